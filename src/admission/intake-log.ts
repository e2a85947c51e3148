import type { Logger } from '../logging.js';
import type { FullReason, Verdict } from './decide.js';

/** Refusals are logged once a window, with their count. */
const LOG_REFUSALS_EVERY_MS = 10_000;

/** What each admission line says of the instance. */
export interface IntakeState {
  events: number;
  intake: number;
  rss_mb: number;
  limit_mb: number;
  loop_delay_ms: number;
  accounts_share: number;
}

/**
 * Admission's log: intake stopped and resumed, as verdicts change; refusals, the first of a
 * window at once and the rest as one line with counts. It keeps the last verdict's stop: the
 * decision needs it (a stopped intake resumes only below the low-water mark).
 */
export function createIntakeLog(log: Logger, state: () => IntakeState) {
  let stopped: Verdict['stopped'];
  let refusals: { since: number; counts: Map<FullReason, number> } | undefined;

  /** The first refusal of a window is logged at once; the rest as one line with counts. */
  function flush(first: boolean, force = false): void {
    if (!refusals) return;
    if (first) {
      log.info({ reason: [...refusals.counts.keys()][0], ...state() }, 'instance full: refusing new events');
    } else if (force || Date.now() - refusals.since >= LOG_REFUSALS_EVERY_MS) {
      log.info(
        { refused: Object.fromEntries(refusals.counts), ...state() },
        'instance full: events refused since the last line',
      );
      refusals = undefined;
    }
  }

  return {
    /** The stop the last verdict gave (undefined: intake open). */
    stopped: () => stopped,
    /** A verdict was given: a stop or a resume is logged once, as it happens. */
    saw(now: Verdict['stopped']): void {
      if (now === stopped) return;
      if (now) log.info({ reason: now, ...state() }, 'intake stopped: the instance is full');
      else log.info({ reason: stopped, ...state() }, 'intake resumed');
      stopped = now;
    },
    refused(reason: FullReason): void {
      refusals ??= { since: Date.now(), counts: new Map() };
      refusals.counts.set(reason, (refusals.counts.get(reason) ?? 0) + 1);
      flush(refusals.counts.size === 1 && refusals.counts.get(reason) === 1);
    },
    /** At each reading: the window's line once it is over; `force` (closing): now. */
    flush: (force = false) => flush(false, force),
  };
}
