import type { Worker } from 'node:worker_threads';

import { createBalancer } from './balancer.js';
import { SAMPLE_MS } from './learning.js';
import { admitWaiting, joinParsed, SHORT_DEPTH, slotsInUse, type PlacementView } from './placement.js';
import { createProcessorRecords } from './processor-records.js';
import type { RunTable } from './run-table.js';
import { createRunQueues, type Waiting } from './run-queues.js';
import { createThreadTable, type Attempt } from './thread-table.js';

export type { Attempt } from './thread-table.js';

/**
 * The shell around placement (`placement.ts`) and learning (`learning.ts`): it keeps what each
 * processor's runs taught, samples the threads' event-loop utilization while anything waits, is
 * unread or computes, and tells the thread pool where each attempt goes. Every decision is made by
 * those pure functions; the threads and their counts are `thread-table.ts`, the attempts waiting
 * `run-queues.ts`, the load balancer `balancer.ts`. Counts are kept as attempts come and go, so
 * each step costs what it changes, not what is held (an instance holds thousands of runs).
 */
export interface SchedulerOptions {
  cpuSlots: number;
  maxThreads: number;
  /** Memory the runs of one thread may hold (a share of its heap limit), in bytes. */
  threadBudgetBytes: number;
  table: RunTable;
  /** The pool's live threads, started or starting. */
  threads: () => readonly Worker[];
  /** Starts one more thread; `threadReady` says when it can take tasks. */
  spawn: () => void;
}

/** How many attempts of the share queue one pass looks at. */
const SHARE_CHUNK = 256;

export function createScheduler(options: SchedulerOptions) {
  const { cpuSlots, maxThreads, table, threadBudgetBytes } = options;
  const records = createProcessorRecords();
  const threads = createThreadTable(options.threads);
  const queues = createRunQueues(records);
  const balancer = createBalancer(threads);
  let sampler: NodeJS.Timeout | undefined;

  function view(): PlacementView {
    return {
      threads: [...threads.threads.values()],
      cpuSlots,
      liveThreads: options.threads().length,
      maxThreads,
      threadBudgetBytes,
    };
  }

  function pump(): void {
    // Only the heads can start: a queue stops at its first attempt that must wait. The share
    // queue is taken in chunks while whole chunks start (a thread that became ready, say).
    for (let more = true; more && queues.slot.length + queues.share.length > 0;) {
      const heads = {
        slot: queues.slot.head(cpuSlots * SHORT_DEPTH + 1),
        share: queues.share.head(SHARE_CHUNK),
      };
      // Their mode follows what was learnt while they waited (a short processor read long, say).
      for (const { attempt } of heads.slot) attempt.mode = records.modeOf(attempt);
      // The pass hosts each attempt it starts on the view's threads (the live states) as it goes.
      const pass = admitWaiting(view(), {
        slot: heads.slot.map((w) => w.attempt),
        share: heads.share.map((w) => w.attempt),
      });
      const admitted = [
        ...pass.slot.map((id) => ({ id, entry: queues.shiftSlot() })),
        ...pass.share.map((id) => ({ id, entry: queues.shiftShare() })),
      ];
      for (const { id, entry } of admitted) threads.adopt(id, entry.attempt);
      for (const { entry } of admitted) entry.admit();
      if (pass.spawn) {
        // The helper task `spawn` sends finds no thread once: the pool starts one for it.
        balancer.wantSpawn();
        options.spawn();
      }
      more = pass.share.length === SHARE_CHUNK;
    }
    ensureSampling();
  }

  /** Attempts that need a slot, asked in this turn: placed once the turn's runs that wait are. */
  let asked: Waiting[] = [];
  function placeAsked(): void {
    const entries = asked;
    asked = [];
    // One view for them all: each join is hosted on its threads, which the next decision sees.
    const now = view();
    for (const entry of entries) {
      const id = joinParsed(now, entry.attempt);
      if (id === undefined) {
        queues.enqueue(entry);
        continue;
      }
      threads.adopt(id, entry.attempt);
      entry.admit();
    }
    pump();
  }

  function ensureSampling(): void {
    if (sampler) return;
    if (queues.slot.length + queues.share.length > 0 || threads.busy())
      sampler = setTimeout(sample, SAMPLE_MS);
  }

  function sample(): void {
    sampler = undefined;
    threads.sample(table, (processorId, kind) => {
      records.read(processorId, kind);
      if (kind === 'io') queues.learnt(processorId);
    });
    pump();
  }

  return {
    /**
     * Resolves when the attempt may be handed to the pool (its wait is queue time). Its mode is
     * set here, from what its processor's runs taught.
     */
    admit(attempt: Attempt): Promise<void> | void {
      attempt.mode = records.modeOf(attempt);
      const share = attempt.mode === 'share';
      if (share && queues.share.length === 0) {
        const started = admitWaiting(view(), { slot: [], share: [attempt] }).share[0];
        if (started !== undefined) {
          threads.adopt(started, attempt);
          ensureSampling();
          return;
        }
      }
      return new Promise<void>((admit) => {
        if (share) {
          queues.enqueue({ attempt, admit });
          return pump();
        }
        // A run that needs a slot is placed once the runs asked in this turn are: its event's
        // waiting runs are on their thread by then (placement's rules for short runs).
        if (asked.push({ attempt, admit }) === 1) queueMicrotask(placeAsked);
      });
    },

    /**
     * The attempt is over (whatever its outcome): its thread and slot are free for others.
     * `ranMs`, the run time its thread measured, teaches what the processor's runs take.
     */
    settled(attempt: Attempt, ranMs?: number): void {
      if (ranMs !== undefined) records.ran(attempt.processorId, { mode: attempt.mode, ranMs });
      threads.unhost(attempt);
      pump();
    },

    /** The thread pool's load balancer (`balancer.ts`). */
    place: balancer.place,

    /** A thread is ready to take tasks. */
    threadReady(id: number): void {
      threads.markReady(id);
      pump();
    },

    /** A thread ended. */
    threadGone(): void {
      threads.sync();
      pump();
    },

    /**
     * What waits for the CPU now: the run time the attempts waiting for a slot are expected to
     * hold one (ms, over every slot; a processor not known yet counts one reading), and how many
     * attempts wait for a thread none can give.
     */
    cpuQueue(): { slotMs: number; threadless: number } {
      const full = options.threads().length >= maxThreads;
      return { slotMs: queues.slotMs(), threadless: full ? queues.share.length : 0 };
    },

    /** How long the runs of these processors are expected to hold a CPU slot, summed, in ms. */
    expectedSlotMs: (processorIds: Iterable<string>) => records.expectedSlotMs(processorIds),

    /** Threads now, threads that compute now, and what was learnt of each processor. */
    stats() {
      return {
        ...threads.stats(),
        /** CPU slots held (runs being read, threads that compute or run short runs) over the slots there are. */
        cpuSaturation: slotsInUse(view()) / cpuSlots,
        waiting: queues.slot.length + queues.share.length,
        kinds: records.kinds(),
      };
    },

    close(): void {
      clearTimeout(sampler);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
