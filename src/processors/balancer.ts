import type { BalancedThread } from './piscina-adapter.js';
import type { Attempt, ThreadTable } from './thread-table.js';

/**
 * The thread pool's load balancer (see `ThreadPoolOptions.place`): an attempt goes to the thread
 * the scheduler admitted it to; any other task (the warm-up, or the one `spawn` sends) to an empty
 * thread, else to the least busy one.
 */
export function createBalancer(table: ThreadTable) {
  let spawnWanted = false;

  /** A task that is not an attempt: null only while none is ready, or once for a spawn. */
  function placeHelper<W extends BalancedThread>(workers: readonly W[]): W | null {
    if (spawnWanted) {
      spawnWanted = false;
      return null;
    }
    const { threads } = table;
    let least: W | undefined;
    for (const w of workers) {
      if (w.currentUsage === 0 && !threads.get(w.id)?.runs) return w;
      if (!least || (threads.get(w.id)?.runs ?? 0) < (threads.get(least.id)?.runs ?? 0)) least = w;
    }
    return least ?? null;
  }

  /** An attempt whose thread ended between admission and now: the least busy thread that may take it. */
  function replace<W extends BalancedThread>(attempt: Attempt, workers: readonly W[]): W | null {
    table.sync();
    table.unhost(attempt);
    attempt.thread = undefined;
    const readyIds = new Set(workers.map((w) => w.id));
    const usable = [...table.threads.values()]
      .filter((s) => readyIds.has(s.id) && !s.closed)
      .sort((a, b) => a.runs - b.runs);
    const other =
      attempt.mode === 'share' || attempt.mode === 'short' ? usable[0] : usable.find((s) => s.runs === 0);
    if (!other) return null;
    table.host(other, attempt);
    return workers.find((w) => w.id === other.id) ?? null;
  }

  function place<W extends BalancedThread>(attempt: Attempt | null, workers: readonly W[]): W | null {
    if (!attempt) return placeHelper(workers);
    const t = attempt.thread;
    const worker = t && table.threads.get(t.id) === t ? workers.find((w) => w.id === t.id) : undefined;
    return worker ?? replace(attempt, workers);
  }

  return {
    /**
     * The next helper task finds no thread, once: that is how the pool is made to start one (it
     * starts a thread for a task no thread takes, while it has fewer than its most).
     */
    wantSpawn(): void {
      spawnWanted = true;
    },

    place,
  };
}
