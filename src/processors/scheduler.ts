import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';

import { EXECUTING, SETTLED, type RunTable } from './run-table.js';

/**
 * Decides when an attempt may start and on which thread, so that runs waiting on I/O all start at
 * once while runs that compute get about one core each.
 *
 * - Threads host up to `runsPerThread` attempts at once; a thread is added (up to `maxThreads`)
 *   when every thread that may take one is full.
 * - What a run does is read from its thread's event-loop utilization (ELU), sampled on the main
 *   thread: a thread whose loop is busy is computing; one whose loop sits idle hosts runs that wait.
 * - A processor is learnt as `io` or `cpu` from its runs: `io` when its thread's loop idles soon after
 *   it starts, `cpu` when the loop stays busy for its first `CPU_PROBE_MS`. An attempt of a processor not known to wait
 *   needs a CPU slot (`cpuSlots`, the cores) and is on probation, holding its slot, until that
 *   reading is taken; a thread that computes holds a slot as long as it computes. An attempt of a
 *   processor known to wait needs no slot: it only needs a thread that is not computing.
 * - An attempt that may compute (on probation) starts on a thread of its own, so that a busy loop
 *   is never blamed on a neighbour; attempts known to wait go to the fullest thread with room that
 *   is not computing, not probing and not held by a solo run (an attempt that must be alone, after
 *   its shared thread died of something nobody owned).
 */
export interface SchedulerOptions {
  cpuSlots: number;
  maxThreads: number;
  runsPerThread: number;
  table: RunTable;
  /** The pool's live threads (Piscina's `threads`), started or starting. */
  threads: () => readonly Worker[];
}

/** One attempt of a run, as the scheduler and the pool see it. */
export interface Attempt {
  readonly slot: number;
  readonly processorId: string;
  /** Must run alone on its thread. */
  readonly solo: boolean;
  thread: ThreadState | undefined;
  /** Holds a CPU slot until its first reading. */
  probation: boolean;
  /** A run of a processor whose runs end within `SHORT_MS`: shares a thread with a few others like it. */
  short: boolean;
  /** Its thread's ELU at the first sample after it started. */
  startElu: EventLoopUtilization | undefined;
  /** Its thread was ended for another run's sake: it is started again with the time it has left. */
  innocent: boolean;
}

export interface ThreadState {
  readonly id: number;
  readonly worker: Worker;
  readonly runs: Set<Attempt>;
  /** ELU over the last few sample windows (smoothed). */
  load: number;
  /** ELU of the last sample window alone. */
  window: number;
  last: EventLoopUtilization;
  /** How many attempts it hosted when it died (frozen at the first failure seen). */
  hostedAtDeath: number | undefined;
}

/** Sample period while anything waits, is on probation or computes. */
const SAMPLE_MS = 2;
/** How long a run's loop must stay busy before its processor is taken as computing. */
const CPU_PROBE_MS = 10;
/**
 * A processor is `short` once `SHORT_RUNS` of its runs ended within `SHORT_MS` of run time, before
 * any reading could tell what they do: they compute, but so briefly that a thread is best kept fed
 * with a few of them at once (`SHORT_DEPTH`), as Piscina does, rather than one per round trip. A
 * run that takes `CPU_PROBE_MS` or more puts the processor back on probation.
 */
const SHORT_MS = SAMPLE_MS;
const SHORT_RUNS = 3;
const SHORT_DEPTH = 4;
/** Weight of the newest window in a thread's smoothed ELU. */
const SMOOTHING = 0.3;
/** ELU at or above which a thread is computing. */
const HOT = 0.5;

type Kind = 'io' | 'cpu' | 'short';

export function createScheduler(options: SchedulerOptions) {
  const { cpuSlots, maxThreads, runsPerThread, table } = options;
  const threads = new Map<number, ThreadState>();
  const kinds = new Map<string, Kind>();
  /** Brief runs so far, per processor not yet known. */
  const briefRuns = new Map<string, number>();
  const probation = new Set<Attempt>();
  const waiting: { attempt: Attempt; admit: () => void }[] = [];
  let sampler: NodeJS.Timeout | undefined;

  const hot = (t: ThreadState) => t.load >= HOT && t.runs.size > 0;
  const solo = (t: ThreadState) => t.runs.size === 1 && first(t.runs).solo;
  const onProbation = (t: ThreadState) => some(t.runs, (a) => a.probation);
  const hostsShort = (t: ThreadState) => some(t.runs, (a) => a.short);

  /** Attempts on probation hold a slot each; a thread that computes, or hosts short runs, one. */
  function slotsInUse(): number {
    let used = probation.size;
    for (const t of threads.values()) if (!onProbation(t) && (hot(t) || hostsShort(t))) used++;
    return used;
  }

  // Thread ids Piscina said were ready.
  const ready = new Set<number>();

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
      threads.set(id, { id, worker, runs: new Set(), load: 0, window: 0, last, hostedAtDeath: undefined });
    }
    for (const id of ready) if (!live.has(id)) ready.delete(id);
  }

  function candidate(attempt: Attempt): ThreadState | undefined {
    if (attempt.short) return shortCandidate();
    let best: ThreadState | undefined;
    for (const t of threads.values()) {
      if (hot(t) || solo(t) || onProbation(t) || hostsShort(t)) continue;
      // A run that may compute starts alone, so that a busy loop blames nobody else.
      const alone = attempt.solo || attempt.probation;
      if (alone ? t.runs.size > 0 : t.runs.size >= runsPerThread) continue;
      // Runs that wait pack onto the fullest thread with room: empty threads stay free for runs
      // that must start alone, and fewer threads are kept.
      if (!best || t.runs.size > best.runs.size || (t.runs.size === best.runs.size && t.load < best.load)) {
        best = t;
      }
    }
    return best;
  }

  /**
   * A thread for a short run: the least busy thread of short runs with room, else an empty one
   * (which then holds a CPU slot; `canStart` checks one is free).
   */
  function shortCandidate(): ThreadState | undefined {
    let best: ThreadState | undefined;
    let empty: ThreadState | undefined;
    for (const t of threads.values()) {
      if (t.runs.size === 0) empty ??= t;
      else if (
        t.runs.size < SHORT_DEPTH &&
        every(t.runs, (a) => a.short) &&
        (!best || t.runs.size < best.runs.size)
      )
        best = t;
    }
    return best ?? empty;
  }

  function canStart(attempt: Attempt): boolean {
    const kind = kinds.get(attempt.processorId);
    attempt.short = kind === 'short' && !attempt.solo;
    attempt.probation = !attempt.short && (kind !== 'io' || attempt.solo);
    if (attempt.short) {
      const t = candidate(attempt);
      if (t && t.runs.size > 0) return true;
      if (slotsInUse() >= cpuSlots) return false;
      if (t) return true;
    } else if (attempt.probation && slotsInUse() >= cpuSlots) return false;
    else if (candidate(attempt)) return true;
    // A new thread takes it; one spawn at a time, so a burst does not start a thread per run.
    const all = options.threads().length;
    return all === threads.size && all < maxThreads;
  }

  function start(attempt: Attempt): void {
    // Its thread is taken now, so the next admission in the same pass sees it (else several
    // could be admitted to one place, and Piscina would queue what finds no room at placement).
    const t = candidate(attempt);
    if (t) host(t, attempt);
    if (attempt.probation) {
      probation.add(attempt);
      ensureSampling();
    }
  }

  function pump(): void {
    sync();
    // First come, first served among runs that compute: once one waits for a CPU slot, short runs
    // queued after it do not join threads either, or a stream of them would keep every slot.
    let slotWanted = false;
    for (let i = 0; i < waiting.length;) {
      const next = waiting[i] as (typeof waiting)[number];
      const computes = kinds.get(next.attempt.processorId) !== 'io' || next.attempt.solo;
      if (slotWanted && computes) {
        i++;
      } else if (canStart(next.attempt)) {
        waiting.splice(i, 1);
        start(next.attempt);
        next.admit();
      } else {
        slotWanted ||= computes;
        i++;
      }
    }
    ensureSampling();
  }

  function ensureSampling(): void {
    if (sampler || (waiting.length === 0 && probation.size === 0 && ![...threads.values()].some(hot))) return;
    sampler = setTimeout(sample, SAMPLE_MS);
  }

  function sample(): void {
    sampler = undefined;
    const now = new Map<ThreadState, EventLoopUtilization>();
    for (const t of threads.values()) {
      const elu = t.worker.performance.eventLoopUtilization();
      // Smoothed: on a loaded machine one short callback kept off the CPU can fill a whole window.
      t.window = t.worker.performance.eventLoopUtilization(elu, t.last).utilization;
      t.load = t.runs.size === 0 ? 0 : t.load + SMOOTHING * (t.window - t.load);
      t.last = elu;
      now.set(t, elu);
    }
    for (const attempt of probation) {
      const { thread } = attempt;
      // Over already (its answer on the way): an idle loop now says nothing of what it did.
      if (!thread || !table.has(attempt.slot, EXECUTING) || table.has(attempt.slot, SETTLED)) continue;
      // The first sample after the start only marks it: the windows after it are the run's own.
      if (!attempt.startElu) {
        attempt.startElu = now.get(thread) ?? thread.last;
        continue;
      }
      // Loading a plugin the first time computes for a while: a run waits as soon as its loop
      // idles for a whole window, and computes if it never does for CPU_PROBE_MS.
      if (thread.window < HOT) {
        kinds.set(attempt.processorId, 'io');
        endProbation(attempt);
      } else if (
        thread.worker.performance.eventLoopUtilization(thread.last, attempt.startElu).active >= CPU_PROBE_MS
      ) {
        kinds.set(attempt.processorId, 'cpu');
        // The reading that says it computes says its thread computes: the slot passes from the
        // probation to the thread at once, not once the smoothed load catches up (on a loaded
        // machine samples come late, and one late window would otherwise free the slot).
        thread.load = Math.max(thread.load, thread.window);
        endProbation(attempt);
      }
    }
    pump();
  }

  function learnShort(attempt: Attempt, ranMs: number): void {
    const id = attempt.processorId;
    if (ranMs >= CPU_PROBE_MS) {
      briefRuns.delete(id);
      if (attempt.short) kinds.delete(id);
    } else if (attempt.probation && kinds.get(id) !== 'io' && ranMs < SHORT_MS) {
      // Not known, or taken as computing from a reading a loaded machine can skew (a thread kept
      // off the CPU inside a brief run looks busy): the runs' own times have the last word.
      const brief = (briefRuns.get(id) ?? 0) + 1;
      briefRuns.set(id, brief);
      if (brief >= SHORT_RUNS) kinds.set(id, 'short');
    }
  }

  function host(t: ThreadState, attempt: Attempt): void {
    t.runs.add(attempt);
    attempt.thread = t;
  }

  function endProbation(attempt: Attempt): void {
    attempt.probation = false;
    probation.delete(attempt);
  }

  return {
    /** Resolves when the attempt may be handed to the pool; its wait is queue time. */
    admit(attempt: Attempt): Promise<void> | void {
      if (waiting.length === 0 && canStart(attempt)) return start(attempt);
      return new Promise<void>((admit) => {
        waiting.push({ attempt, admit });
        ensureSampling();
      });
    },

    /**
     * The attempt is over (whatever its outcome): its thread and slot are free for others.
     * `ranMs`, the run time its thread measured, teaches which processors are short.
     */
    settled(attempt: Attempt, ranMs?: number): void {
      if (ranMs !== undefined) learnShort(attempt, ranMs);
      endProbation(attempt);
      const t = attempt.thread;
      if (t) {
        t.runs.delete(attempt);
        if (t.runs.size === 0) t.load = 0;
      }
      pump();
    },

    /**
     * Piscina's load balancer: places an attempt on the thread the scheduler chose, or asks for a
     * new thread (null). Tasks that are not attempts (the warm-up) go to any thread that is empty.
     */
    place<W extends { id: number; currentUsage: number }>(
      attempt: Attempt | null,
      workers: readonly W[],
    ): W | null {
      if (!attempt) return workers.find((w) => w.currentUsage === 0 && !threads.get(w.id)?.runs.size) ?? null;
      sync();
      const readyIds = new Set(workers.map((w) => w.id));
      let t = attempt.thread;
      if (t && !(threads.get(t.id) === t && readyIds.has(t.id))) {
        t.runs.delete(attempt);
        t = attempt.thread = undefined;
      }
      t ??= candidate(attempt);
      if (t && !readyIds.has(t.id)) t = undefined;
      if (!t) {
        // Piscina starts a thread while it has fewer than maxThreads, else keeps the task queued.
        if (options.threads().length === threads.size) return null;
        // A thread is starting and Piscina asks again: take the least loaded thread (an empty one
        // for a run that must start alone) rather than let Piscina start one thread per ask. With
        // none, Piscina may start threads up to maxThreads; idle ones end after 30 s.
        const usable = [...threads.values()]
          .filter((s) => readyIds.has(s.id) && !solo(s))
          .sort((a, b) => a.runs.size - b.runs.size);
        t = attempt.solo || attempt.probation ? usable.find((s) => s.runs.size === 0) : usable[0];
        if (!t) return null;
      }
      host(t, attempt);
      return workers.find((w) => w.id === t.id) ?? null;
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
     * Attempts waiting for a thread or a CPU slot, but for short ones: those start within
     * milliseconds, the others wait for runs of any length to end.
     */
    waitingLong(): number {
      let n = 0;
      for (const { attempt } of waiting) if (kinds.get(attempt.processorId) !== 'short' || attempt.solo) n++;
      return n;
    },

    /** Threads now, threads that compute now, and what was learnt of each processor. */
    stats() {
      return {
        threads: threads.size,
        hotThreads: [...threads.values()].filter(hot).length,
        busyThreads: [...threads.values()].filter((t) => t.runs.size > 0).length,
        /** CPU slots held (runs on probation, threads that compute) over the slots there are. */
        cpuSaturation: slotsInUse() / cpuSlots,
        waiting: waiting.length,
        kinds: Object.fromEntries(kinds),
      };
    },

    close(): void {
      clearTimeout(sampler);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;

function some<T>(set: Set<T>, test: (value: T) => boolean): boolean {
  for (const value of set) if (test(value)) return true;
  return false;
}

function every<T>(set: Set<T>, test: (value: T) => boolean): boolean {
  return !some(set, (value) => !test(value));
}

function first<T>(set: Set<T>): T {
  return set.values().next().value as T;
}
