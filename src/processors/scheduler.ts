import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';

import {
  afterReading,
  afterRun,
  expectedSlotMs,
  modeOf,
  readSample,
  SAMPLE_MS,
  smoothLoad,
  HOT,
  type ProcessorRecord,
} from './learning.js';
import {
  admitWaiting,
  slotsInUse,
  type Mode,
  type PlacementAsk,
  type PlacementView,
  type ThreadView,
} from './placement.js';
import { EXECUTING, SETTLED, type RunTable } from './run-table.js';

/**
 * The shell around placement (`placement.ts`) and learning (`learning.ts`): it keeps the threads,
 * the attempts waiting and what each processor's runs taught, samples the threads' event-loop
 * utilization while anything waits, is unread or computes, and tells Piscina where each attempt
 * goes. Every decision is made by those pure functions; this file only feeds them.
 */
export interface SchedulerOptions {
  cpuSlots: number;
  maxThreads: number;
  /** Memory the runs of one thread may hold (a share of its heap limit), in bytes. */
  threadBudgetBytes: number;
  table: RunTable;
  /** The pool's live threads (Piscina's `threads`), started or starting. */
  threads: () => readonly Worker[];
  /** Starts one more thread; `threadReady` says when it can take tasks. */
  spawn: () => void;
}

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
  /** ELU over the last few sample windows (smoothed). */
  load: number;
  /** ELU of the last sample window alone. */
  window: number;
  last: EventLoopUtilization;
  /** How many attempts it hosted when it died (frozen at the first failure seen). */
  hostedAtDeath: number | undefined;
}

const unread = (mode: Mode) => mode === 'probe' || mode === 'alone';

export function createScheduler(options: SchedulerOptions) {
  const { cpuSlots, maxThreads, table, threadBudgetBytes } = options;
  const threads = new Map<number, ThreadState>();
  const records = new Map<string, ProcessorRecord>();
  const waiting: { attempt: Attempt; admit: () => void }[] = [];
  // Thread ids Piscina said were ready.
  const ready = new Set<number>();
  let sampler: NodeJS.Timeout | undefined;
  let spawnWanted = false;

  function placeHelper<W extends { id: number; currentUsage: number }>(workers: readonly W[]): W | null {
    if (spawnWanted) {
      spawnWanted = false;
      return null;
    }
    let least: W | undefined;
    for (const w of workers) {
      if (w.currentUsage === 0 && !threads.get(w.id)?.runs) return w;
      if (!least || (threads.get(w.id)?.runs ?? 0) < (threads.get(least.id)?.runs ?? 0)) least = w;
    }
    return least ?? null;
  }

  function view(): PlacementView {
    return {
      threads: [...threads.values()],
      cpuSlots,
      liveThreads: options.threads().length,
      maxThreads,
      threadBudgetBytes,
    };
  }

  /**
   * Brings the registry in line with the pool's own list of threads. Piscina's events race it (a
   * thread that exited already reads id -1 when its destroy event comes): the list is the truth.
   */
  function sync(): void {
    const live = new Map(options.threads().map((w) => [w.threadId, w]));
    for (const [id, t] of threads) {
      if (live.get(id) !== t.worker) threads.delete(id);
    }
    for (const [id, worker] of live) {
      if (id < 0 || threads.has(id) || !ready.has(id)) continue;
      const last = worker.performance.eventLoopUtilization();
      threads.set(id, {
        id,
        worker,
        attempts: new Set(),
        runs: 0,
        hot: false,
        closed: false,
        unread: false,
        short: 0,
        heldBytes: 0,
        load: 0,
        window: 0,
        last,
        hostedAtDeath: undefined,
      });
    }
    for (const id of ready) if (!live.has(id)) ready.delete(id);
  }

  /** Recounts what a thread's view says from the attempts it hosts. */
  function recount(t: ThreadState): void {
    let short = 0;
    let heldBytes = 0;
    let anyUnread = false;
    let closed = false;
    for (const a of t.attempts) {
      if (a.mode === 'short') short++;
      if (unread(a.mode)) anyUnread = true;
      if (a.isolated) closed = true;
      heldBytes += a.bytes;
    }
    t.runs = t.attempts.size;
    t.short = short;
    t.heldBytes = heldBytes;
    t.unread = anyUnread;
    t.closed = closed;
    if (t.runs === 0) {
      t.load = 0;
      t.hot = false;
    }
  }

  function host(t: ThreadState, attempt: Attempt): void {
    if (attempt.thread === t) return;
    attempt.thread = t;
    t.attempts.add(attempt);
    recount(t);
  }

  function unhost(attempt: Attempt): void {
    const t = attempt.thread;
    if (!t) return;
    t.attempts.delete(attempt);
    recount(t);
  }

  function pump(): void {
    sync();
    if (waiting.length > 0) {
      // What was learnt while they waited decides how they are placed.
      for (const { attempt } of waiting)
        attempt.mode = modeOf(records.get(attempt.processorId), attempt.isolated);
      // The pass hosts each attempt it starts on the view's threads (the live states) as it goes.
      const pass = admitWaiting(
        view(),
        waiting.map((w) => w.attempt),
      );
      const admitted: (() => void)[] = [];
      for (let i = waiting.length - 1; i >= 0; i--) {
        const id = pass.started.get(i);
        const t = id === undefined ? undefined : threads.get(id);
        if (!t) continue;
        const [{ attempt, admit }] = waiting.splice(i, 1) as [(typeof waiting)[number]];
        host(t, attempt);
        admitted.push(admit);
      }
      for (const admit of admitted.reverse()) admit();
      if (pass.spawn) {
        // The helper task `spawn` sends finds no thread once: Piscina starts one for it.
        spawnWanted = true;
        options.spawn();
      }
    }
    ensureSampling();
  }

  function ensureSampling(): void {
    if (sampler) return;
    let busy = waiting.length > 0;
    for (const t of threads.values()) busy ||= t.unread || t.hot;
    if (busy) sampler = setTimeout(sample, SAMPLE_MS);
  }

  function sample(): void {
    sampler = undefined;
    const now = new Map<ThreadState, EventLoopUtilization>();
    for (const t of threads.values()) {
      const elu = t.worker.performance.eventLoopUtilization();
      // Smoothed: on a loaded machine one short callback kept off the CPU can fill a whole window.
      t.window = t.worker.performance.eventLoopUtilization(elu, t.last).utilization;
      t.load = smoothLoad(t.load, t.window, t.runs);
      t.hot = t.load >= HOT && t.runs > 0;
      t.last = elu;
      now.set(t, elu);
    }
    for (const t of threads.values()) {
      if (!t.unread) continue;
      for (const attempt of t.attempts) if (unread(attempt.mode)) read(attempt, t, now.get(t) ?? t.last);
    }
    pump();
  }

  /** Takes a sample of an unread attempt; once it tells, the processor is known and the slot free. */
  function read(attempt: Attempt, t: ThreadState, elu: EventLoopUtilization): void {
    // Over already (its answer on the way): an idle loop now says nothing of what it did.
    if (!table.has(attempt.slot, EXECUTING) || table.has(attempt.slot, SETTLED)) return;
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
    records.set(attempt.processorId, afterReading(records.get(attempt.processorId), kind));
    attempt.mode = 'share';
    recount(t);
  }

  return {
    /**
     * Resolves when the attempt may be handed to the pool (its wait is queue time). Its mode is
     * set here, from what its processor's runs taught.
     */
    admit(attempt: Attempt): Promise<void> | void {
      attempt.mode = modeOf(records.get(attempt.processorId), attempt.isolated);
      if (waiting.length === 0) {
        sync();
        const id = admitWaiting(view(), [attempt]).started.get(0);
        const t = id === undefined ? undefined : threads.get(id);
        if (t) {
          host(t, attempt);
          ensureSampling();
          return;
        }
      }
      return new Promise<void>((admit) => {
        waiting.push({ attempt, admit });
        pump();
      });
    },

    /**
     * The attempt is over (whatever its outcome): its thread and slot are free for others.
     * `ranMs`, the run time its thread measured, teaches what the processor's runs take.
     */
    settled(attempt: Attempt, ranMs?: number): void {
      if (ranMs !== undefined)
        records.set(
          attempt.processorId,
          afterRun(records.get(attempt.processorId), { mode: attempt.mode, ranMs }),
        );
      unhost(attempt);
      pump();
    },

    /**
     * Piscina's load balancer. An attempt goes to the thread it was admitted to. A task that is
     * not an attempt (the warm-up, or the one `spawn` sends) goes to an empty thread, else to the
     * least busy one; it returns null only while none is ready, or once for a spawn, which is how
     * Piscina is made to start a thread.
     */
    place<W extends { id: number; currentUsage: number }>(
      attempt: Attempt | null,
      workers: readonly W[],
    ): W | null {
      if (!attempt) return placeHelper(workers);
      sync();
      const t = attempt.thread;
      const worker = t && threads.get(t.id) === t ? workers.find((w) => w.id === t.id) : undefined;
      if (worker) return worker;
      // Its thread ended between admission and now: the least busy thread that may take it.
      unhost(attempt);
      const readyIds = new Set(workers.map((w) => w.id));
      const usable = [...threads.values()]
        .filter((s) => readyIds.has(s.id) && !s.closed)
        .sort((a, b) => a.runs - b.runs);
      const other =
        attempt.mode === 'share' || attempt.mode === 'short' ? usable[0] : usable.find((s) => s.runs === 0);
      if (!other) return null;
      host(other, attempt);
      return workers.find((w) => w.id === other.id) ?? null;
    },

    /** A thread is ready to take tasks. */
    threadReady(id: number): void {
      ready.add(id);
      sync();
      pump();
    },

    /** A thread ended. */
    threadGone(): void {
      sync();
      pump();
    },

    /** Total idle time of an attempt's thread (for the deadline's blocked-loop test). */
    idleMs(attempt: Attempt): number | undefined {
      return attempt.thread?.worker.performance.eventLoopUtilization().idle;
    },

    /**
     * What waits for the CPU now: the run time the attempts waiting for a slot are expected to
     * hold one (ms, over every slot), and how many attempts wait for a thread none can give.
     */
    cpuQueue(): { slotMs: number; threadless: number } {
      let slotMs = 0;
      let threadless = 0;
      const full = options.threads().length >= maxThreads;
      for (const { attempt } of waiting) {
        if (attempt.mode === 'share') {
          if (full) threadless++;
        } else slotMs += expectedSlotMs(records.get(attempt.processorId));
      }
      return { slotMs, threadless };
    },

    /** How long the runs of these processors are expected to hold a CPU slot, summed, in ms. */
    expectedSlotMs(processorIds: Iterable<string>): number {
      let ms = 0;
      for (const id of processorIds) ms += expectedSlotMs(records.get(id));
      return ms;
    },

    /** Threads now, threads that compute now, and what was learnt of each processor. */
    stats() {
      const all = [...threads.values()];
      return {
        threads: threads.size,
        hotThreads: all.filter((t) => t.hot).length,
        busyThreads: all.filter((t) => t.runs > 0).length,
        /** Runs on each thread (placed), busiest first. */
        runsPerThread: all.map((t) => t.runs).sort((a, b) => b - a),
        /** CPU slots held (runs being read, threads that compute or run short runs) over the slots there are. */
        cpuSaturation: slotsInUse(view()) / cpuSlots,
        waiting: waiting.length,
        kinds: Object.fromEntries([...records].flatMap(([id, r]) => (r.kind ? [[id, r.kind]] : []))),
      };
    },

    close(): void {
      clearTimeout(sampler);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
