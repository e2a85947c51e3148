import { eventBytes } from '../processors/footprint.js';
import type { ProcessorPool } from '../processors/pool.js';
import type { Holdings } from './decide.js';

/** What an event holds once its runs are asked for. */
export interface EventPlan {
  /** Size of its encoded input (its documents), in bytes. */
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

/** Holdings of an instance that holds nothing yet. */
export function noHoldings(idleRssBytes: number): Holdings {
  return {
    events: 0,
    intake: 0,
    accountedBytes: 0,
    // Until an event says: a few small documents and four runs.
    perEventBytes: eventBytes(16 * 1024, 4),
    perEventCpuMs: 0,
    idleRssBytes,
    // What resident memory is measured to hold of the accounts (`nextShare`): all, until measured.
    share: 1,
  };
}

/**
 * One event taken: counted in `holdings` (in intake until `started`, then at what its plan
 * holds) until `release`; `changed` is called at each step.
 */
export function openTicket(
  holdings: Holdings,
  pool: Pick<ProcessorPool, 'expectedCpuMs'>,
  changed: () => void,
): Ticket {
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
