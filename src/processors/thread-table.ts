import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';

import { HOT, loadAfterReading, readSample, smoothLoad } from './learning.js';
import { countBytes, type Kind, type Mode, type PlacementAsk, type ThreadView } from './placement.js';
import { DECODING, EXECUTING, SETTLED, type RunTable } from './run-table.js';

/** One attempt of a run, as the scheduler and the pool see it. */
export interface Attempt extends PlacementAsk {
  readonly slot: number;
  readonly processorId: string;
  thread: ThreadState | undefined;
  /** Its thread's ELU at the first sample after it started (a run being read). */
  startElu: EventLoopUtilization | undefined;
  /** Its thread was ended for another run's sake: it is started again with the time it has left. */
  innocent: boolean;
}

export interface ThreadState extends ThreadView {
  readonly worker: Worker;
  readonly attempts: Set<Attempt>;
  /** Its attempts not read yet. */
  readonly unreadAttempts: Set<Attempt>;
  /** Its attempts that must be alone. */
  isolatedRuns: number;
  /** ELU over the last few sample windows (smoothed). */
  load: number;
  /** ELU of the last sample window alone. */
  window: number;
  last: EventLoopUtilization;
  /** How many attempts it hosted when it died (frozen at the first failure seen). */
  hostedAtDeath: number | undefined;
}

const unread = (mode: Mode) => mode === 'probe' || mode === 'alone';

function newThread(id: number, worker: Worker): ThreadState {
  return {
    id,
    worker,
    attempts: new Set(),
    unreadAttempts: new Set(),
    isolatedRuns: 0,
    runs: 0,
    hot: false,
    closed: false,
    unread: false,
    short: 0,
    heldBytes: 0,
    inputs: new Map(),
    load: 0,
    window: 0,
    last: worker.performance.eventLoopUtilization(),
    hostedAtDeath: undefined,
  };
}

/** Adds (1) or removes (-1) an attempt in its thread's counts. */
function count(t: ThreadState, attempt: Attempt, sign: 1 | -1): void {
  t.runs += sign;
  countBytes(t, attempt, sign);
  if (attempt.mode === 'short') t.short += sign;
  if (attempt.isolated) t.isolatedRuns += sign;
  if (unread(attempt.mode)) {
    if (sign > 0) t.unreadAttempts.add(attempt);
    else t.unreadAttempts.delete(attempt);
  }
  t.unread = t.unreadAttempts.size > 0;
  t.closed = t.isolatedRuns > 0;
}

/**
 * Takes a sample of an unread attempt; once it tells, `onRead` learns what its processor does and
 * the attempt holds no slot of its own from then (its thread holds one while it computes).
 */
function read(
  attempt: Attempt,
  t: ThreadState,
  elu: EventLoopUtilization,
  table: RunTable,
  onRead: (processorId: string, kind: Kind) => void,
): void {
  // Over already (its answer on the way): an idle loop now says nothing of what it did.
  if (!table.has(attempt.slot, EXECUTING) || table.has(attempt.slot, SETTLED)) return;
  // Its thread decodes its documents: the reading starts again after.
  if (table.has(attempt.slot, DECODING)) {
    attempt.startElu = undefined;
    return;
  }
  // The first sample after the start only marks it: the windows after it are the run's own.
  if (!attempt.startElu) {
    attempt.startElu = elu;
    return;
  }
  const kind = readSample({
    windowElu: t.window,
    activeSinceStartMs: t.worker.performance.eventLoopUtilization(t.last, attempt.startElu).active,
  });
  if (kind === undefined) return;
  count(t, attempt, -1);
  attempt.mode = 'share';
  count(t, attempt, 1);
  t.load = loadAfterReading(t.load, kind, t.window);
  t.hot = t.load >= HOT;
  onRead(attempt.processorId, kind);
}

/**
 * The scheduler's table of threads: which attempts each hosts, the counts placement reads (kept as
 * attempts come and go, so each step costs what it changes), and each thread's event-loop readings.
 */
export function createThreadTable(liveThreads: () => readonly Worker[]) {
  const threads = new Map<number, ThreadState>();
  // Thread ids the pool said were ready.
  const ready = new Set<number>();

  /**
   * Brings the table in line with the pool's own list of threads, when the pool says one is ready
   * or gone. Piscina's events race it (a thread that exited already reads id -1 when its destroy
   * event comes): the list is the truth.
   */
  function sync(): void {
    const live = new Map(liveThreads().map((w) => [w.threadId, w]));
    for (const [id, t] of threads) {
      if (live.get(id) !== t.worker) threads.delete(id);
    }
    for (const [id, worker] of live) {
      if (id < 0 || threads.has(id) || !ready.has(id)) continue;
      threads.set(id, newThread(id, worker));
    }
    for (const id of ready) if (!live.has(id)) ready.delete(id);
  }

  function unhost(attempt: Attempt): void {
    const t = attempt.thread;
    if (!t || !t.attempts.delete(attempt)) return;
    count(t, attempt, -1);
    if (t.runs === 0) {
      // An empty thread computes nothing, whatever its last windows said.
      t.load = 0;
      t.hot = false;
    }
  }

  return {
    threads,
    sync,
    unhost,

    /** The pool says thread `id` can take tasks. */
    markReady(id: number): void {
      ready.add(id);
      sync();
    },

    /** Puts an attempt on `t` (off the thread it was on). */
    host(t: ThreadState, attempt: Attempt): void {
      if (attempt.thread === t) return;
      if (attempt.thread) unhost(attempt);
      attempt.thread = t;
      t.attempts.add(attempt);
      count(t, attempt, 1);
    },

    /** Records on thread `id` an attempt a placement pass put there (the pass counted it on the view already). */
    adopt(id: number, attempt: Attempt): void {
      const t = threads.get(id) as ThreadState;
      attempt.thread = t;
      t.attempts.add(attempt);
      if (unread(attempt.mode)) t.unreadAttempts.add(attempt);
      if (attempt.isolated) t.isolatedRuns++;
    },

    /** Samples every thread's event-loop utilization, and reads the attempts not read yet. */
    sample(table: RunTable, onRead: (processorId: string, kind: Kind) => void): void {
      for (const t of threads.values()) {
        const elu = t.worker.performance.eventLoopUtilization();
        // Smoothed: on a loaded machine one short callback kept off the CPU can fill a whole window.
        t.window = t.worker.performance.eventLoopUtilization(elu, t.last).utilization;
        t.load = smoothLoad(t.load, t.window, t.runs);
        t.hot = t.load >= HOT && t.runs > 0;
        t.last = elu;
        for (const attempt of [...t.unreadAttempts]) read(attempt, t, elu, table, onRead);
      }
    },

    /** Threads now, how many compute, how many host runs, and the runs on each (busiest first). */
    stats() {
      const all = [...threads.values()];
      return {
        threads: all.length,
        hotThreads: all.filter((t) => t.hot).length,
        busyThreads: all.filter((t) => t.runs > 0).length,
        runsPerThread: all.map((t) => t.runs).sort((a, b) => b - a),
      };
    },

    /** A thread is being read or computes: the sampler must keep going. */
    busy(): boolean {
      for (const t of threads.values()) if (t.unread || t.hot) return true;
      return false;
    },
  };
}

export type ThreadTable = ReturnType<typeof createThreadTable>;

/** Total idle time of an attempt's thread, in ms (for the deadline's blocked-loop test). */
export function threadIdleMs(attempt: Attempt): number | undefined {
  return attempt.thread?.worker.performance.eventLoopUtilization().idle;
}
