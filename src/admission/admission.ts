import { totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

import type { Logger } from '../logging.js';
import { eventBytes } from '../processors/footprint.js';
import type { ProcessorPool } from '../processors/pool.js';
import {
  evaluate,
  nextShare,
  type FullReason,
  type Holdings,
  type Readings,
  type Verdict,
} from './decide.js';

/**
 * The admission port both transports ask (the decision itself is `decide.ts`): pull asks how many
 * events it may take (`room`) and takes what Pub/Sub gives it (`take`); push asks for one
 * (`tryTake`) and answers 429 at once when refused. Each taken event holds a ticket until its
 * verdict is given: the orchestrator says what it holds once its runs are asked for (`started`),
 * and the transport releases it after the ack or nack.
 */
export interface AdmissionOptions {
  pool: Pick<ProcessorPool, 'load' | 'cpuSlots' | 'expectedCpuMs'>;
  /** The instance's memory limit; default: the cgroup's (Cloud Run's), else the machine's. */
  limitBytes?: number;
  log: Logger;
  /** Counts refusals (`admission.refused`). */
  onRefused?: (reason: FullReason) => void;
}

/** What an event holds once its runs are asked for. */
export interface EventPlan {
  /** Length of its serialized input (its documents). */
  inputBytes: number;
  /** The processors whose runs were asked for (not those reused or not installed). */
  processorIds: readonly string[];
}

/** One event taken: it counts until `release`. Both calls are idempotent. */
export interface Ticket {
  /** Its runs are asked for: it leaves intake and holds what `plan` says. */
  started(plan: EventPlan): void;
  /** Its verdict is given: it holds nothing any more. */
  release(): void;
}

export type Refusal = { refused: FullReason; retryAfterSeconds: number };

export type Admission = ReturnType<typeof createAdmission>;

/** How often memory is read. */
const READ_EVERY_MS = 100;
/**
 * The event-loop delay is read over windows this long (every `READ_EVERY_MS`, the last window's
 * figure is kept): its 90th percentile says whether the loop is late most of the time, which one
 * long synchronous step (a large document parsed) does not.
 */
const DELAY_WINDOW_TICKS = 10;
/** Weight of the newest event in the per-event estimates, when it is smaller than them. */
const ESTIMATE_WEIGHT = 0.1;

/**
 * The per-event memory estimate after an event: it rises at once to a larger event (events in
 * intake are counted at it, and an underestimate could take more than memory holds) and falls
 * slowly.
 */
export function estimate(current: number, event: number): number {
  return event >= current ? event : current + ESTIMATE_WEIGHT * (event - current);
}
/** How long a refused push should wait, by reason: memory and threads free slower than CPU. */
const RETRY_AFTER_SECONDS: Record<FullReason, number> = {
  memory: 10,
  threads: 10,
  concurrency: 10,
  cpu: 1,
  'event-loop': 1,
};
/** Refusals are logged once a window, with their count. */
const LOG_REFUSALS_EVERY_MS = 10_000;

/**
 * The memory an instance may use: its cgroup's limit (Cloud Run's memory), else the machine's.
 * Without a limit, cgroup v1 reads as the largest number it holds (about 8 EiB), not 0.
 */
export function memoryLimit(constrained: number, total: number): number {
  return constrained > 0 ? Math.min(constrained, total) : total;
}

export function createAdmission(options: AdmissionOptions) {
  const { pool, log } = options;
  const limitBytes = options.limitBytes ?? memoryLimit(process.constrainedMemory?.() ?? 0, totalmem());
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const holdings: Holdings = {
    events: 0,
    intake: 0,
    accountedBytes: 0,
    // Until an event says: a few small documents and four runs.
    perEventBytes: eventBytes(16 * 1024, 4),
    perEventCpuMs: 0,
    idleRssBytes: process.memoryUsage.rss(),
    share: 1,
  };
  let ticks = 0;
  let loopDelayMs = 0;
  let readings = read();
  let stopped: Verdict['stopped'];
  let waiters: (() => void)[] = [];
  let refusals: { since: number; counts: Map<FullReason, number> } | undefined;
  const timer = setInterval(tick, READ_EVERY_MS).unref();

  function read(): Omit<Readings, 'cpuWaitMs' | 'cpuSlots' | 'threadless' | 'limitWaiting'> {
    const heap = getHeapStatistics();
    if (++ticks % DELAY_WINDOW_TICKS === 0) {
      loopDelayMs = delay.count > 0 ? delay.percentile(90) / 1e6 : 0;
      delay.reset();
    }
    return {
      rssBytes: process.memoryUsage.rss(),
      limitBytes,
      heapUsedBytes: heap.used_heap_size,
      heapLimitBytes: heap.heap_size_limit,
      loopDelayMs,
    };
  }

  function tick(): void {
    readings = read();
    if (holdings.events === 0) holdings.idleRssBytes = readings.rssBytes;
    holdings.share = nextShare(holdings.share, readings.rssBytes, holdings, limitBytes, stopped);
    flushRefusals(false);
    changed();
  }

  function verdict(): Verdict {
    const load = pool.load();
    const now = evaluate(
      {
        ...readings,
        cpuWaitMs: load.cpuWaitMs,
        cpuSlots: pool.cpuSlots,
        threadless: load.threadless,
        limitWaiting: load.limitWaiting,
      },
      holdings,
      stopped,
    );
    if (now.stopped !== stopped) {
      if (now.stopped) log.info({ reason: now.stopped, ...state() }, 'intake stopped: the instance is full');
      else log.info({ reason: stopped, ...state() }, 'intake resumed');
      stopped = now.stopped;
    }
    return now;
  }

  function changed(): void {
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  }

  function ticket(): Ticket {
    holdings.events++;
    holdings.intake++;
    let held: number | undefined;
    let released = false;
    return {
      started(plan) {
        if (held !== undefined || released) return;
        held = eventBytes(plan.inputBytes, plan.processorIds.length);
        const cpuMs = pool.expectedCpuMs(plan.processorIds);
        holdings.intake--;
        holdings.accountedBytes += held;
        holdings.perEventBytes = estimate(holdings.perEventBytes, held);
        // CPU is not memory: an event heavier than the others waits a little, it kills nothing.
        holdings.perEventCpuMs += ESTIMATE_WEIGHT * (cpuMs - holdings.perEventCpuMs);
        changed();
      },
      release() {
        if (released) return;
        released = true;
        holdings.events--;
        if (held === undefined) holdings.intake--;
        else holdings.accountedBytes -= held;
        changed();
      },
    };
  }

  function refused(reason: FullReason): Refusal {
    options.onRefused?.(reason);
    refusals ??= { since: Date.now(), counts: new Map() };
    refusals.counts.set(reason, (refusals.counts.get(reason) ?? 0) + 1);
    flushRefusals(refusals.counts.size === 1 && refusals.counts.get(reason) === 1);
    return { refused: reason, retryAfterSeconds: RETRY_AFTER_SECONDS[reason] };
  }

  /** The first refusal of a window is logged at once; the rest as one line with counts. */
  function flushRefusals(first: boolean, force = false): void {
    if (!refusals) return;
    const counts = Object.fromEntries(refusals.counts);
    if (first) {
      log.info({ reason: [...refusals.counts.keys()][0], ...state() }, 'instance full: refusing new events');
    } else if (force || Date.now() - refusals.since >= LOG_REFUSALS_EVERY_MS) {
      log.info({ refused: counts, ...state() }, 'instance full: events refused since the last line');
      refusals = undefined;
    }
  }

  function state() {
    return {
      events: holdings.events,
      intake: holdings.intake,
      rss_mb: Math.round(readings.rssBytes / 2 ** 20),
      limit_mb: Math.round(limitBytes / 2 ** 20),
      loop_delay_ms: Math.round(readings.loopDelayMs),
      accounts_share: Math.round(holdings.share * 100) / 100,
    };
  }

  return {
    /** Events that may be taken now (pull asks Pub/Sub for at most this many). */
    room(): number {
      return verdict().room;
    },

    /** Events taken whose runs are not asked for yet (decoding, fetching documents). */
    intake: () => holdings.intake,

    /** An event taken because it was asked for (pull): it counts even past the room. */
    take: ticket,

    /** An event offered (push): a ticket, or why the instance is full. */
    tryTake(): Ticket | Refusal {
      const now = verdict();
      return now.room > 0 ? ticket() : refused(now.reason ?? 'cpu');
    },

    /** Resolves at the next change: a ticket started or released, or the next reading. */
    changed(): Promise<void> {
      return new Promise((resolve) => waiters.push(resolve));
    },

    /** For the start-up line, the ops page and the tests. */
    stats() {
      const now = verdict();
      return {
        ...state(),
        room: now.room,
        full: now.reason ?? null,
        per_event_kb: Math.round(holdings.perEventBytes / 1024),
      };
    },

    close(): void {
      clearInterval(timer);
      delay.disable();
      flushRefusals(false, true);
      changed();
    },
  };
}

/** Whether `tryTake` refused. */
export function isRefusal(taken: Ticket | Refusal): taken is Refusal {
  return 'refused' in taken;
}
