// The pauses as the hot path reads them: a cached read of the store, never a read per event.
//
// Protocol: a read younger than `refreshMs` (2 s) is used as it is; an older one is still used,
// while one read refreshes it in the background, until it is `maxAgeMs` (4 s) old; past that the
// next event waits for the read (shared by every event waiting). So every instance acts on a
// pause within 4 s plus one read, and an instance whose CPU was idle (Cloud Run throttles it
// between requests) never acts on an old read. The store answers one query per refresh: at most
// one read every 2 s per instance, and only while events flow.
//
// Polling rather than a Firestore listener: a listener's stream stalls with the CPU throttled
// between requests and must be watched and re-opened; a read carries its own age, so freshness is
// checked where it matters, on the decision. A failed read keeps the last pauses known (logged
// once); with the ledger on the same Firestore, events are retried then anyway.
import type { Logger } from '../logging.js';
import type { Pause, PauseStore } from '../ledger/ops-records.js';

export const PAUSE_CACHE = { refreshMs: 2_000, maxAgeMs: 4_000 } as const;

/** What the orchestrator reads: the pauses in force, by processor id. */
export interface PauseReader {
  current(): Promise<ReadonlyMap<string, Pause>>;
}

export interface PauseCache extends PauseReader {
  /** Reads the store now (after this instance paused or resumed, its next event must see it). */
  refresh(): Promise<void>;
}

export function createPauseCache(
  store: Pick<PauseStore, 'list'>,
  log: Logger,
  options: { refreshMs?: number; maxAgeMs?: number; now?: () => number } = {},
): PauseCache {
  const refreshMs = options.refreshMs ?? PAUSE_CACHE.refreshMs;
  const maxAgeMs = options.maxAgeMs ?? PAUSE_CACHE.maxAgeMs;
  const now = options.now ?? Date.now;
  let pauses: ReadonlyMap<string, Pause> = new Map();
  let readAt = -Infinity;
  let failing = false;
  let reading: Promise<void> | undefined;

  function refresh(): Promise<void> {
    reading ??= (async () => {
      const started = now();
      try {
        const list = await store.list();
        pauses = new Map(list.map((p) => [p.processor_id, p]));
        if (failing) log.info('pauses read again');
        failing = false;
      } catch (err) {
        if (!failing) log.warn({ err }, 'cannot read the pauses; acting on the last ones read');
        failing = true;
      } finally {
        // A failed read counts as a read: the next is tried after refreshMs, not by every event.
        readAt = started;
        reading = undefined;
      }
    })();
    return reading;
  }

  return {
    refresh,
    async current() {
      const age = now() - readAt;
      if (age > maxAgeMs) await refresh();
      else if (age > refreshMs) void refresh();
      return pauses;
    },
  };
}

/** No pauses (`LEDGER=none`, the `run` command). */
export const NO_PAUSES: PauseReader = { current: () => Promise.resolve(new Map()) };
