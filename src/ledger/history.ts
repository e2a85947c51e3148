// The ledger's read side: what the operations views (src/ops/) and a re-run read back. Each
// ledger that remembers anything (memory, firestore) answers these; `none` has no history.
import { OrchestratorError } from '../errors.js';
import type { OverallStatus } from '../events/processing-completed.js';
import type { RerunOf } from '../events/underwriting-created.js';
import type { RunOutcome } from '../processors/run.js';

/** What the ledger records of a run besides its published entry. */
export interface OutcomeFacts {
  /** Taken from an earlier delivery or execution as it was, not run by this delivery. */
  reused: boolean;
  /** Seconds from the event's receipt to this run's start; `null` when not measured (reused). */
  queueWait: number | null;
}

/** One processor's part of a recorded execution. */
export interface RecordedRun {
  processorId: string;
  status: RunOutcome['status'];
  attempts: number;
  /** Every execution id it ran under in this execution, oldest first. */
  executionIds: string[];
  /** Seconds, as published. */
  executionTime: number;
  queueWait: number | null;
  reused: boolean;
  errorMessage: string | null;
  timeoutPhase: 'signal' | 'terminated' | null;
  /** The whole outcome, factors included, when it was read back (always by `execution()`). */
  outcome: RunOutcome | undefined;
}

/** One execution as recorded: a delivered event, or an operator's re-run of one. */
export interface ExecutionRecord {
  key: string;
  underwritingId: string;
  sourceMessageId: string;
  receivedAt: string;
  /** When its `processing.completed` was published; `null` while it runs. */
  finishedAt: string | null;
  deliveries: number;
  overallStatus: OverallStatus | null;
  publishedMessageId: string | null;
  rerun: RerunOf | null;
  /** The event's document ids and organization (what a re-run sends again). */
  documents: string[];
  organizationId: string | undefined;
  runs: RecordedRun[];
}

/** `status=timeout` means "has a timed-out processor". */
export type ExecutionStatusFilter = OverallStatus | 'timeout';

export interface ExecutionFilter {
  status?: ExecutionStatusFilter | undefined;
  processor?: string | undefined;
  /** ISO time: executions completed at or after it. */
  since?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/**
 * What a ledger can tell about past executions. Reads are bounded by their `limit`s; a store that
 * cannot answer rejects with LEDGER_UNAVAILABLE, a bad cursor with REQUEST_INVALID.
 */
export interface LedgerHistory {
  /** Executions of an underwriting, newest (by receipt) first, at most `limit`. */
  underwriting(underwritingId: string, limit: number): Promise<ExecutionRecord[]>;
  /** One execution with every outcome read back whole (large results included), or `undefined`. */
  execution(key: string): Promise<ExecutionRecord | undefined>;
  /** Published executions, the most recently completed first; one page. */
  executions(filter: ExecutionFilter): Promise<{ records: ExecutionRecord[]; next: string | null }>;
}

/** A page's position: the last execution's completion time and its id in the store. */
export interface Cursor {
  at: number;
  id: string;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.at, cursor.id])).toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
      return { at: value[0], id: value[1] };
    }
  } catch {
    // Not ours: said below.
  }
  throw new OrchestratorError('REQUEST_INVALID', 'cursor: not a cursor this API returned');
}

/** Whether a record passes a filter's status, processor and `since` (the memory ledger's query). */
export function matches(record: ExecutionRecord, filter: ExecutionFilter, completedAtMs: number): boolean {
  if (filter.since !== undefined && completedAtMs < Date.parse(filter.since)) return false;
  if (filter.processor !== undefined && !record.runs.some((r) => r.processorId === filter.processor))
    return false;
  if (filter.status === 'timeout') return record.runs.some((r) => r.status === 'timeout');
  return filter.status === undefined || record.overallStatus === filter.status;
}

/** The view fields of an outcome's entry. */
export function entryFacts(outcome: RunOutcome): Pick<RecordedRun, 'errorMessage' | 'timeoutPhase'> {
  return {
    errorMessage: outcome.status === 'failed' ? outcome.error_message : null,
    timeoutPhase: outcome.status === 'timeout' ? outcome.timeout_phase : null,
  };
}
