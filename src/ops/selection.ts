// What a bulk re-run selects: for each underwriting, its latest execution, when a selected
// processor's entry in it matches (status, error code, text in the error message) and it completed
// within the window. An underwriting whose latest execution does not match (it was re-run since,
// or a newer event came) is left alone: re-running an older execution would only redo what was done.
import type { ExecutionFilter, ExecutionRecord, LedgerHistory } from '../ledger/history.js';
import { matchingRuns } from '../ledger/history.js';
import type { RerunSelection } from '../ledger/ops-records.js';

/** Bounds of one selection (docs/operations.md states them). */
export const SELECTION_LIMITS = {
  /** Underwritings one job re-runs at most: a larger selection is refused (narrow the window). */
  underwritings: 5_000,
  /** Executions read at most while selecting. */
  scan: 20_000,
  /** Executions per page read. */
  page: 200,
  /** Underwritings whose latest execution is read at once. */
  parallel: 16,
  /** Underwritings a dry run shows. */
  sample: 20,
} as const;

/** One underwriting a selection found. */
export interface Candidate {
  underwriting_id: string;
  /** The execution to re-run. */
  of: string;
  /** The selected processors whose entries matched in it. */
  processors: string[];
  completed_at: string;
  /** The first matching entry's error message (FAILED), for the sample. */
  error_message: string | null;
}

export interface Selected {
  candidates: Candidate[];
  /** More matched than `SELECTION_LIMITS.underwritings`, or more executions than `scan` were read. */
  truncated: boolean;
  /** Executions read. */
  scanned: number;
}

type Limits = { [K in keyof typeof SELECTION_LIMITS]: number };

/** Runs the selection against the ledger's history: newest first. */
export async function selectRuns(
  history: LedgerHistory,
  selection: RerunSelection,
  limits: Limits = SELECTION_LIMITS,
): Promise<Selected> {
  const found = new Map<string, Candidate>();
  let scanned = 0;
  let truncated = false;
  for (const processor of selection.processors) {
    const filter: ExecutionFilter = {
      processor,
      outcome: selection.status,
      errorCode: selection.error_code ?? undefined,
      errorText: selection.error_text ?? undefined,
      since: selection.since,
      until: selection.until,
      limit: limits.page,
    };
    let cursor: string | undefined;
    do {
      const page = await history.executions({ ...filter, cursor });
      for (const record of page.records)
        take(found, record, matchingRuns(record, filter)[0]?.errorMessage ?? null, processor);
      scanned += page.records.length;
      cursor = page.next ?? undefined;
      if (scanned >= limits.scan && cursor !== undefined) truncated = true;
    } while (cursor !== undefined && !truncated);
  }
  const current = await stillLatest(history, [...found.values()], limits.parallel);
  current.sort(
    (a, b) =>
      b.completed_at.localeCompare(a.completed_at) || (a.underwriting_id < b.underwriting_id ? -1 : 1),
  );
  if (current.length > limits.underwritings) truncated = true;
  return { candidates: current.slice(0, limits.underwritings), truncated, scanned };
}

/** Adds a matching record to what was found: the newest execution of each underwriting wins. */
function take(
  found: Map<string, Candidate>,
  record: ExecutionRecord,
  error: string | null,
  processor: string,
): void {
  const completedAt = record.finishedAt ?? record.receivedAt;
  const had = found.get(record.underwritingId);
  if (had && had.of === record.key) {
    if (!had.processors.includes(processor)) had.processors.push(processor);
    return;
  }
  if (had && had.completed_at >= completedAt) return;
  found.set(record.underwritingId, {
    underwriting_id: record.underwritingId,
    of: record.key,
    processors: [processor],
    completed_at: completedAt,
    error_message: error,
  });
}

/** The candidates whose execution is still the latest of their underwriting. */
async function stillLatest(
  history: LedgerHistory,
  candidates: Candidate[],
  parallel: number,
): Promise<Candidate[]> {
  const kept: Candidate[] = [];
  for (let at = 0; at < candidates.length; at += parallel) {
    const batch = candidates.slice(at, at + parallel);
    const latest = await Promise.all(batch.map((c) => history.underwriting(c.underwriting_id, 1)));
    batch.forEach((c, i) => {
      if (supersededBy(c.of, latest[i]?.[0]) === undefined) kept.push(c);
    });
  }
  return kept;
}

/** Why an underwriting is not re-run now, or `undefined` when `latest` is still the execution selected. */
export function supersededBy(of: string, latest: ExecutionRecord | undefined): string | undefined {
  if (!latest) return 'the execution is no longer in the ledger';
  if (latest.key !== of) return `the underwriting has a newer execution (${latest.key})`;
  if (latest.finishedAt === null) return 'the execution has not finished';
  return undefined;
}
