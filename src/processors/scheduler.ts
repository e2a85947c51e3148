import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';

import {
  afterReading,
  afterRun,
  expectedSlotMs,
  HOT,
  loadAfterReading,
  modeOf,
  readSample,
  SAMPLE_MS,
  smoothLoad,
  type ProcessorRecord,
} from './learning.js';
import {
  admitWaiting,
  SHORT_DEPTH,
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
 * goes. Every decision is made by those pure functions; this file only feeds them, and keeps its
 * counts as it goes so that each step costs what it changes, not what is held (an instance holds
 * thousands of runs).
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

type Waiting = {
  attempt: Attempt;
  admit: () => void;
  /** What it adds to the slot queue's expected time: one reading of its processor, or ms. */
  counted?: 'probe' | number;
};

const unread = (mode: Mode) => mode === 'probe' || mode === 'alone';
/** How many attempts of the share queue one pass looks at. */
const SHARE_CHUNK = 256;

/** A first-in, first-out queue whose `shift` does not move what is left. */
class Queue<T> {
  #items: T[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  shift(): T | undefined {
    const item = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  /** The first `n` items. */
  head(n: number): T[] {
    return this.#items.slice(this.#head, this.#head + n);
  }
  /** Takes out every item `test` accepts, in order. */
  extract(test: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const taken: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      (test(item) ? taken : kept).push(item);
    }
    this.#items = kept;
    this.#head = 0;
    return taken;
  }
  values(): T[] {
    return this.#items.slice(this.#head);
  }
}

export function createScheduler(options: SchedulerOptions) {
  const { cpuSlots, maxThreads, table, threadBudgetBytes } = options;
  const threads = new Map<number, ThreadState>();
  const records = new Map<string, ProcessorRecord>();
  /** Attempts waiting for a CPU slot (probes, runs alone, short runs), and for a thread (runs that wait). */
  const slotQueue = new Queue<Waiting>();
  const shareQueue = new Queue<Waiting>();
  /** What the slot queue is expected to hold its slots for, kept as attempts come and go. */
  const queued = { slotMs: 0, probes: new Map<string, number>() };
  // Thread ids Piscina said were ready.
  const ready = new Set<number>();
  let sampler: NodeJS.Timeout | undefined;
  let spawnWanted = false;

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
   * Brings the registry in line with the pool's own list of threads, when Piscina says one is
   * ready or gone. Piscina's events race it (a thread that exited already reads id -1 when its
   * destroy event comes): the list is the truth.
   */
  function sync(): void {
    const live = new Map(options.threads().map((w) => [w.threadId, w]));
    for (const [id, t] of threads) {
      if (live.get(id) !== t.worker) threads.delete(id);
    }
    for (const [id, worker] of live) {
      if (id < 0 || threads.has(id) || !ready.has(id)) continue;
      threads.set(id, {
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
        load: 0,
        window: 0,
        last: worker.performance.eventLoopUtilization(),
        hostedAtDeath: undefined,
      });
    }
    for (const id of ready) if (!live.has(id)) ready.delete(id);
  }

  /** Adds (1) or removes (-1) an attempt in its thread's counts. */
  function count(t: ThreadState, attempt: Attempt, sign: 1 | -1): void {
    t.runs += sign;
    t.heldBytes += sign * attempt.bytes;
    if (attempt.mode === 'short') t.short += sign;
    if (attempt.isolated) t.isolatedRuns += sign;
    if (unread(attempt.mode)) {
      if (sign > 0) t.unreadAttempts.add(attempt);
      else t.unreadAttempts.delete(attempt);
    }
    t.unread = t.unreadAttempts.size > 0;
    t.closed = t.isolatedRuns > 0;
  }

  function host(t: ThreadState, attempt: Attempt): void {
    if (attempt.thread === t) return;
    if (attempt.thread) unhost(attempt);
    attempt.thread = t;
    t.attempts.add(attempt);
    count(t, attempt, 1);
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

  /** Queues an attempt by what it needs; the slot queue keeps its expected slot time. */
  function enqueue(entry: Waiting): void {
    if (entry.attempt.mode === 'share') return shareQueue.push(entry);
    slotQueue.push(entry);
    entry.counted =
      entry.attempt.mode === 'probe' ? 'probe' : expectedSlotMs(records.get(entry.attempt.processorId));
    queuedSlot(entry, 1);
  }

  /**
   * Adds or removes an attempt of the slot queue in its expected slot time. Runs of a processor
   * not known yet wait for one reading, not one each: once read, the others are placed by it.
   */
  function queuedSlot({ attempt, counted }: Waiting, sign: 1 | -1): void {
    if (counted === undefined) return;
    if (counted !== 'probe') {
      queued.slotMs += sign * counted;
      return;
    }
    const after = (queued.probes.get(attempt.processorId) ?? 0) + sign;
    if (after === 0) queued.probes.delete(attempt.processorId);
    else queued.probes.set(attempt.processorId, after);
  }

  /** Once a processor is learnt to wait, its attempts in the slot queue move to the share queue. */
  function learnt(processorId: string): void {
    for (const entry of slotQueue.extract(({ attempt }) => attempt.processorId === processorId)) {
      queuedSlot(entry, -1);
      entry.counted = undefined;
      entry.attempt.mode = modeOf(records.get(processorId), entry.attempt.isolated);
      enqueue(entry);
    }
  }

  /** The shell's part once a pass put an attempt on `t` (the pass counted it on the view already). */
  function adopt(t: ThreadState, attempt: Attempt): void {
    attempt.thread = t;
    t.attempts.add(attempt);
    if (unread(attempt.mode)) t.unreadAttempts.add(attempt);
    if (attempt.isolated) t.isolatedRuns++;
  }

  function pump(): void {
    // Only the heads can start: a queue stops at its first attempt that must wait. The share
    // queue is taken in chunks while whole chunks start (a thread that became ready, say).
    for (let more = true; more && slotQueue.length + shareQueue.length > 0;) {
      const heads = { slot: slotQueue.head(cpuSlots * SHORT_DEPTH + 1), share: shareQueue.head(SHARE_CHUNK) };
      // Their mode follows what was learnt while they waited (a short processor read long, say).
      for (const { attempt } of heads.slot)
        attempt.mode = modeOf(records.get(attempt.processorId), attempt.isolated);
      // The pass hosts each attempt it starts on the view's threads (the live states) as it goes.
      const pass = admitWaiting(view(), {
        slot: heads.slot.map((w) => w.attempt),
        share: heads.share.map((w) => w.attempt),
      });
      const admitted: (() => void)[] = [];
      for (const id of pass.slot) {
        const entry = slotQueue.shift() as Waiting;
        queuedSlot(entry, -1);
        adopt(threads.get(id) as ThreadState, entry.attempt);
        admitted.push(entry.admit);
      }
      for (const id of pass.share) {
        const entry = shareQueue.shift() as Waiting;
        adopt(threads.get(id) as ThreadState, entry.attempt);
        admitted.push(entry.admit);
      }
      for (const admit of admitted) admit();
      if (pass.spawn) {
        // The helper task `spawn` sends finds no thread once: Piscina starts one for it.
        spawnWanted = true;
        options.spawn();
      }
      more = pass.share.length === SHARE_CHUNK;
    }
    ensureSampling();
  }

  function ensureSampling(): void {
    if (sampler) return;
    let busy = slotQueue.length + shareQueue.length > 0;
    for (const t of threads.values()) busy ||= t.unread || t.hot;
    if (busy) sampler = setTimeout(sample, SAMPLE_MS);
  }

  function sample(): void {
    sampler = undefined;
    for (const t of threads.values()) {
      const elu = t.worker.performance.eventLoopUtilization();
      // Smoothed: on a loaded machine one short callback kept off the CPU can fill a whole window.
      t.window = t.worker.performance.eventLoopUtilization(elu, t.last).utilization;
      t.load = smoothLoad(t.load, t.window, t.runs);
      t.hot = t.load >= HOT && t.runs > 0;
      t.last = elu;
      for (const attempt of [...t.unreadAttempts]) read(attempt, t, elu);
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
    // Read: it holds no slot of its own from now; its thread holds one while it computes.
    count(t, attempt, -1);
    attempt.mode = 'share';
    count(t, attempt, 1);
    t.load = loadAfterReading(t.load, kind);
    t.hot = t.load >= HOT;
    if (kind === 'io') learnt(attempt.processorId);
  }

  /** Piscina's load balancer for a task that is not an attempt (see `place`). */
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

  return {
    /**
     * Resolves when the attempt may be handed to the pool (its wait is queue time). Its mode is
     * set here, from what its processor's runs taught.
     */
    admit(attempt: Attempt): Promise<void> | void {
      attempt.mode = modeOf(records.get(attempt.processorId), attempt.isolated);
      const share = attempt.mode === 'share';
      if ((share ? shareQueue : slotQueue).length === 0) {
        const pass = admitWaiting(
          view(),
          share ? { slot: [], share: [attempt] } : { slot: [attempt], share: [] },
        );
        const started = pass.slot[0] ?? pass.share[0];
        if (started !== undefined) {
          adopt(threads.get(started) as ThreadState, attempt);
          ensureSampling();
          return;
        }
      }
      return new Promise<void>((admit) => {
        enqueue({ attempt, admit });
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
      const t = attempt.thread;
      const worker = t && threads.get(t.id) === t ? workers.find((w) => w.id === t.id) : undefined;
      if (worker) return worker;
      // Its thread ended between admission and now: the least busy thread that may take it.
      sync();
      unhost(attempt);
      attempt.thread = undefined;
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
     * hold one (ms, over every slot; a processor not known yet counts one reading), and how many
     * attempts wait for a thread none can give.
     */
    cpuQueue(): { slotMs: number; threadless: number } {
      const full = options.threads().length >= maxThreads;
      return {
        slotMs: queued.slotMs + queued.probes.size * expectedSlotMs(undefined),
        threadless: full ? shareQueue.length : 0,
      };
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
        waiting: slotQueue.length + shareQueue.length,
        kinds: Object.fromEntries([...records].flatMap(([id, r]) => (r.kind ? [[id, r.kind]] : []))),
      };
    },

    close(): void {
      clearTimeout(sampler);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
