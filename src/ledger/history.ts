// The ledger's read side: what the operations views (src/ops/) and a re-run read back. Each
// ledger that remembers anything (memory, firestore) answers these; `none` has no history.
import { OrchestratorError } from '../errors.js';
import type { FailureCode, OverallStatus, RunStatus, TimeoutPhase } from '../events/processing-completed.js';
import type { RerunOf } from '../events/underwriting-created.js';
import { failureCode, type RunOutcome } from '../processors/run.js';

/** Bounds of the history's reads. */
export const HISTORY_LIMITS = {
  /** Records a page reads at most when a filter is checked on each record (text in an error). */
  scan: 1_000,
} as const;

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
  status: RunStatus;
  attempts: number;
  /** Every execution id it ran under in this execution, oldest first. */
  executionIds: string[];
  /** Seconds, as published. */
  executionTime: number;
  queueWait: number | null;
  reused: boolean;
  errorMessage: string | null;
  /** A FAILED run's code (`PROCESSOR_PAUSED`, …); `null` unless FAILED. */
  errorCode: FailureCode | null;
  timeoutPhase: TimeoutPhase | null;
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

/** A processor outcome the filters find: FAILED or TIMEOUT (completed ones are not indexed). */
export type OutcomeFilter = 'failed' | 'timeout';

/**
 * Which published executions to list. Every field narrows (AND). `outcome`, `errorCode` and
 * `errorText` are about `processor`'s entry when it is set, else about any entry; `errorCode` and
 * `errorText` imply `outcome: 'failed'`.
 */
export interface ExecutionFilter {
  /** The execution's overall status (`timeout`: any processor timed out). */
  status?: ExecutionStatusFilter | undefined;
  processor?: string | undefined;
  outcome?: OutcomeFilter | undefined;
  errorCode?: FailureCode | undefined;
  /** Text in an error message, in any case. */
  errorText?: string | undefined;
  /** The underwriting id starts with it. */
  underwritingPrefix?: string | undefined;
  /** ISO times: completed at or after `since`, at or before `until`. */
  since?: string | undefined;
  until?: string | undefined;
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
  /**
   * Published executions, the most recently completed first (by underwriting id, then the most
   * recently completed, when `underwritingPrefix` is set); one page. A page may hold fewer than
   * `limit` records and still have a `next` cursor: a filter the store cannot index (text in an
   * error message) is checked on a bounded number of records per page.
   */
  executions(filter: ExecutionFilter): Promise<{ records: ExecutionRecord[]; next: string | null }>;
}

/** A page's position: the last execution's completion time, its id in the store, and underwriting. */
export interface Cursor {
  at: number;
  id: string;
  /** Set when the page is ordered by underwriting id. */
  underwriting?: string | undefined;
}

export function encodeCursor(cursor: Cursor): string {
  const parts =
    cursor.underwriting === undefined ? [cursor.at, cursor.id] : [cursor.at, cursor.id, cursor.underwriting];
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
      if (value.length === 2) return { at: value[0], id: value[1] };
      if (value.length === 3 && typeof value[2] === 'string')
        return { at: value[0], id: value[1], underwriting: value[2] };
    }
  } catch {
    // Not ours: said below.
  }
  throw new OrchestratorError('REQUEST_INVALID', 'cursor: not a cursor this API returned');
}

/** Whether a published record passes every filter (the memory ledger's query; the check after a store's). */
export function matches(record: ExecutionRecord, filter: ExecutionFilter, completedAtMs: number): boolean {
  if (filter.since !== undefined && completedAtMs < Date.parse(filter.since)) return false;
  if (filter.until !== undefined && completedAtMs > Date.parse(filter.until)) return false;
  if (filter.underwritingPrefix !== undefined && !record.underwritingId.startsWith(filter.underwritingPrefix))
    return false;
  if (filter.processor !== undefined && !record.runs.some((r) => r.processorId === filter.processor))
    return false;
  if (filter.status === 'timeout' && !record.runs.some((r) => r.status === 'timeout')) return false;
  if (filter.status !== undefined && filter.status !== 'timeout' && record.overallStatus !== filter.status)
    return false;
  return matchingRuns(record, filter).length > 0;
}

/**
 * The runs of a record that the outcome filters (`outcome`, `errorCode`, `errorText`, of
 * `processor` when set) pick; every run when there are none of those.
 */
export function matchingRuns(record: ExecutionRecord, filter: ExecutionFilter): RecordedRun[] {
  const outcome = outcomeOf(filter);
  const text = filter.errorText?.toLowerCase();
  return record.runs.filter(
    (r) =>
      (filter.processor === undefined || r.processorId === filter.processor) &&
      (outcome === undefined || r.status === outcome) &&
      (filter.errorCode === undefined || r.errorCode === filter.errorCode) &&
      (text === undefined || (r.errorMessage ?? '').toLowerCase().includes(text)),
  );
}

/** The processor outcome a filter asks for: `failed` whenever it names an error code or text. */
export function outcomeOf(filter: ExecutionFilter): OutcomeFilter | undefined {
  return filter.errorCode !== undefined || filter.errorText !== undefined ? 'failed' : filter.outcome;
}

/**
 * What the store indexes of an execution's outcomes, so that one `array-contains` finds a
 * processor's FAILED or TIMEOUT runs, by code too: `P/failed`, `P/failed/CODE`, `P/timeout`, and
 * the same for any processor (`*`). Completed runs are not tagged (most are, and an index of them
 * would only add writes).
 */
export function outcomeTags(
  runs: readonly Pick<RecordedRun, 'processorId' | 'status' | 'errorCode'>[],
): string[] {
  const tags = new Set<string>();
  for (const run of runs) {
    for (const who of [run.processorId, '*']) {
      if (run.status === 'timeout') tags.add(`${who}/timeout`);
      if (run.status === 'failed') {
        tags.add(`${who}/failed`);
        tags.add(`${who}/failed/${run.errorCode ?? 'PROCESSOR_FAILED'}`);
      }
    }
  }
  return [...tags].sort();
}

/** What every ledger keeps of a run beside its entry (the entry itself may not be at hand). */
export type RunFacts = Pick<
  RecordedRun,
  'processorId' | 'status' | 'attempts' | 'executionIds' | 'executionTime' | 'queueWait' | 'reused'
>;

/** A recorded run as the history tells it: what was kept of it, and what its entry says when read back. */
export function recordedRun(facts: RunFacts, outcome: RunOutcome | undefined): RecordedRun {
  return {
    ...facts,
    errorMessage: outcome?.status === 'failed' ? outcome.error_message : null,
    errorCode: outcome?.status === 'failed' ? failureCode(outcome) : null,
    timeoutPhase: outcome?.status === 'timeout' ? outcome.timeout_phase : null,
    outcome,
  };
}
