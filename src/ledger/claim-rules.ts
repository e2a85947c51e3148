// The ledger's claim rules, once: who may claim a key, what recording an outcome does to what is
// recorded, and what a redelivery takes back from the record. The memory ledger, the Firestore
// ledger and the dead-letter records act on these; none decides on its own.
import type { RunStatus } from '../events/processing-completed.js';

/** What a ledger holds of a key: whether its work is done, and until when its holder's lease runs. */
export interface Held {
  /** Published (an execution) or forwarded (a poison message): nothing is left to do. */
  done: boolean;
  /** The holder's lease; `Infinity` while a holder that cannot lapse holds it, past once released. */
  leaseUntilMs: number;
}

/**
 * What a delivery may do with a key (no record yet: `found` is `undefined`):
 * - `claim`: nothing holds it; this delivery creates the record;
 * - `done`: its work is done (ack without doing it again);
 * - `elsewhere`: a live delivery holds it (retryable IN_PROGRESS_ELSEWHERE);
 * - `take-over`: its holder's lease ran out (released, or the holder stalled); this delivery
 *   takes the record over, with what it holds.
 */
export type BeginDecision = 'claim' | 'done' | 'elsewhere' | 'take-over';

export function beginDecision(found: Held | undefined, nowMs: number): BeginDecision {
  if (!found) return 'claim';
  if (found.done) return 'done';
  return found.leaseUntilMs > nowMs ? 'elsewhere' : 'take-over';
}

/** A processor's recorded entry, as far as the rules need it. */
export interface RecordedIds {
  /** The execution id of the outcome recorded. */
  executionId: string;
  /** Every execution id it ran under in this execution, oldest first. */
  executionIds: readonly string[];
}

/**
 * What recording an outcome does to the processor's entry (`earlier`, if it has one):
 * - `flag`: the outcome is reused from this very record (a redelivery hands the recorded COMPLETED
 *   outcome back): the entry stays, only marked reused;
 * - `entry`: the outcome replaces the entry, with these execution ids: the ones so far plus its
 *   own (once) when this delivery ran it; its own alone when it was reused from another execution
 *   (a re-run's earlier one: its runs there are not runs of this execution).
 */
export type RecordDecision = { kind: 'flag' } | { kind: 'entry'; executionIds: string[] };

export function recordDecision(
  earlier: RecordedIds | undefined,
  outcome: { execution_id: string },
  reused: boolean,
): RecordDecision {
  if (reused && earlier?.executionId === outcome.execution_id) return { kind: 'flag' };
  const ids = earlier && !reused ? earlier.executionIds : [];
  return {
    kind: 'entry',
    executionIds: ids.includes(outcome.execution_id) ? [...ids] : [...ids, outcome.execution_id],
  };
}

/**
 * Whether a redelivery may reuse a recorded outcome as it is: COMPLETED ones only. The others are
 * handed back for their attempts to be counted on, and run again; a ledger need not read back
 * more of them than it keeps at hand.
 */
export function reusable(status: RunStatus): boolean {
  return status === 'completed';
}
