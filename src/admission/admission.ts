import { totalmem } from 'node:os';

import type { Logger } from '../logging.js';
import type { ProcessorPool } from '../processors/pool.js';
import { evaluate, nextShare, type FullReason, type Holdings, type Verdict } from './decide.js';
import { createIntakeLog, type IntakeState } from './intake-log.js';
import { createReadings, type OwnReadings } from './readings.js';
import { noHoldings, openTicket, type Ticket } from './tickets.js';

export type { EventPlan, Ticket } from './tickets.js';

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

export type Refusal = { refused: FullReason; retryAfterSeconds: number };

export type Admission = ReturnType<typeof createAdmission>;

/** How often memory is read. */
const READ_EVERY_MS = 100;
/** How long a refused push should wait, by reason: memory and threads free slower than CPU. */
const RETRY_AFTER_SECONDS: Record<FullReason, number> = {
  memory: 10,
  threads: 10,
  concurrency: 10,
  cpu: 1,
  'event-loop': 1,
};

/**
 * The memory an instance may use: its cgroup's limit (Cloud Run's memory), else the machine's.
 * Without a limit, cgroup v1 reads as the largest number it holds (about 8 EiB), not 0.
 */
export function memoryLimit(constrained: number, total: number): number {
  return constrained > 0 ? Math.min(constrained, total) : total;
}

export function createAdmission(options: AdmissionOptions) {
  const { pool } = options;
  const limitBytes = options.limitBytes ?? memoryLimit(process.constrainedMemory?.() ?? 0, totalmem());
  const holdings = noHoldings(process.memoryUsage.rss());
  const readings = createReadings(limitBytes);
  const waiters = createWaiters();
  const state = () => stateOf(holdings, readings.last());
  const intakeLog = createIntakeLog(options.log, state);
  const timer = setInterval(() => {
    const now = readings.read();
    if (holdings.events === 0) holdings.idleRssBytes = now.rssBytes;
    holdings.share = nextShare(holdings.share, now.rssBytes, holdings, limitBytes);
    intakeLog.flush();
    waiters.wake();
  }, READ_EVERY_MS).unref();

  function verdict(): Verdict {
    const { cpuWaitMs, threadless, limitWaiting } = pool.load();
    const now = evaluate(
      { ...readings.last(), cpuWaitMs, cpuSlots: pool.cpuSlots, threadless, limitWaiting },
      holdings,
      intakeLog.stopped(),
    );
    intakeLog.saw(now.stopped);
    return now;
  }

  const ticket = () => openTicket(holdings, pool, waiters.wake);

  return {
    /** Events that may be taken now (pull asks Pub/Sub for at most this many). */
    room: (): number => verdict().room,

    /** Events taken whose runs are not asked for yet (decoding, fetching documents). */
    intake: () => holdings.intake,

    /** An event taken because it was asked for (pull): it counts even past the room. */
    take: ticket,

    /** An event offered (push): a ticket, or why the instance is full. */
    tryTake(): Ticket | Refusal {
      const now = verdict();
      if (now.room > 0) return ticket();
      const reason = now.reason ?? 'cpu';
      options.onRefused?.(reason);
      intakeLog.refused(reason);
      return { refused: reason, retryAfterSeconds: RETRY_AFTER_SECONDS[reason] };
    },

    /** Resolves at the next change: a ticket started or released, or the next reading. */
    changed: waiters.next,

    /** For the start-up line, the ops page and the tests. */
    stats() {
      const now = verdict();
      const perEventKb = Math.round(holdings.perEventBytes / 1024);
      return { ...state(), room: now.room, full: now.reason ?? null, per_event_kb: perEventKb };
    },

    close(): void {
      clearInterval(timer);
      readings.close();
      intakeLog.flush(true);
      waiters.wake();
    },
  };
}

/** Who waits for the next change (`changed`): woken all at once. */
function createWaiters() {
  let waiting: (() => void)[] = [];
  return {
    next: (): Promise<void> => new Promise((resolve) => waiting.push(resolve)),
    wake: (): void => {
      const woken = waiting;
      waiting = [];
      for (const wake of woken) wake();
    },
  };
}

/** What each admission line says of the instance. */
function stateOf(holdings: Holdings, readings: OwnReadings): IntakeState {
  return {
    events: holdings.events,
    intake: holdings.intake,
    rss_mb: Math.round(readings.rssBytes / 2 ** 20),
    limit_mb: Math.round(readings.limitBytes / 2 ** 20),
    loop_delay_ms: Math.round(readings.loopDelayMs),
    accounts_share: Math.round(holdings.share * 100) / 100,
  };
}

/** Whether `tryTake` refused. */
export function isRefusal(taken: Ticket | Refusal): taken is Refusal {
  return 'refused' in taken;
}
