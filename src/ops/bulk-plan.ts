// The decisions of a bulk re-run request, as pure functions: what a request selects, whether a
// selection can become a job, the job it becomes, whether a repeated Idempotency-Key asks for the
// same job, and what a cancel does to a job. bulk.ts is the shell that reads and writes.
import { OrchestratorError } from '../errors.js';
import {
  NO_COUNTS,
  RerunJobSchema,
  type JobChange,
  type RerunSelection,
  type StoredRerunJob,
} from '../ledger/ops-records.js';
import { SELECTION_LIMITS, type Selected } from './selection.js';
import type { BulkRerunRequest, OpsIdentity, RerunJob } from './views.js';

/** What a request selects: its processors once each, its window (until: `now` unless given). */
export function selectionOf(request: BulkRerunRequest, now: number): RerunSelection {
  const selection: RerunSelection = {
    processors: [...new Set(request.processors)],
    status: request.status,
    since: request.since,
    until: request.until ?? new Date(now).toISOString(),
    error_code: request.error_code ?? null,
    error_text: request.error_text ?? null,
  };
  if (Date.parse(selection.until) < Date.parse(selection.since)) {
    throw new OrchestratorError('REQUEST_INVALID', 'body: until is before since');
  }
  return selection;
}

/** Why a selection cannot become a job (RERUN_REFUSED): too large, or empty; `undefined` when it can. */
export function selectionRefusal(selected: Pick<Selected, 'candidates' | 'truncated'>): string | undefined {
  if (selected.truncated) {
    return `the selection matches more than ${SELECTION_LIMITS.underwritings} underwritings (or more than ${SELECTION_LIMITS.scan} executions to read): narrow the time window`;
  }
  if (selected.candidates.length === 0) return 'the selection matches no underwriting: nothing to re-run';
  return undefined;
}

/** A new job, `selecting`, held by `owner` (the instance that makes it) for `leaseMs`. */
export function newJob(input: {
  id: string;
  key: string | undefined;
  request: BulkRerunRequest;
  selection: RerunSelection;
  by: OpsIdentity;
  owner: string;
  pacePerSecond: number;
  leaseMs: number;
  now: number;
}): StoredRerunJob {
  const at = new Date(input.now).toISOString();
  return {
    id: input.id,
    idempotency_key: input.key ?? null,
    state: 'selecting',
    selection: input.selection,
    reason: input.request.reason,
    requested_by: input.by.email,
    pace_per_second: input.request.pace_per_second ?? input.pacePerSecond,
    created_at: at,
    updated_at: at,
    finished_at: null,
    cancelled_by: null,
    cancelled_at: null,
    counts: NO_COUNTS,
    owner: input.owner,
    lease_until: input.now + input.leaseMs,
    active: true,
  };
}

/**
 * The job a repeated Idempotency-Key names, if the request asks for the same: the same processors,
 * status, error filters and operator (its window and reason may differ: a command run again with
 * `--since 6h` computes its window anew; the job keeps the first). Else IDEMPOTENCY_KEY_REUSED.
 */
export function sameRequest(job: StoredRerunJob, request: BulkRerunRequest, by: OpsIdentity): StoredRerunJob {
  const s = job.selection;
  const same =
    job.requested_by === by.email &&
    s.status === request.status &&
    s.error_code === (request.error_code ?? null) &&
    s.error_text === (request.error_text ?? null) &&
    s.processors.join() === [...new Set(request.processors)].join();
  if (!same) {
    throw new OrchestratorError(
      'IDEMPOTENCY_KEY_REUSED',
      `the Idempotency-Key was used for job ${job.id} with other processors, status, error filters or operator; use a new key`,
    );
  }
  return job;
}

/**
 * What cancelling does to a job: nothing when it is cancelled already, RERUN_REFUSED when it is
 * over, else the change that cancels it (the audit entry is the caller's).
 */
export function cancelOf(
  job: Pick<StoredRerunJob, 'id' | 'state' | 'active'>,
  by: OpsIdentity,
  now: number,
): 'cancelled already' | JobChange {
  if (job.state === 'cancelled') return 'cancelled already';
  if (job.state === 'done' || !job.active) {
    throw new OrchestratorError(
      'RERUN_REFUSED',
      `bulk re-run job ${job.id} is over (${job.state}): nothing to cancel`,
    );
  }
  const at = new Date(now).toISOString();
  return { job: { state: 'cancelled', cancelled_by: by.email, cancelled_at: at, updated_at: at } };
}

/** A job as the API shows it (who carries it, and its lease, are the carriers' business). */
export function publicJob(job: StoredRerunJob): RerunJob {
  const shown: Partial<StoredRerunJob> = { ...job };
  delete shown.owner;
  delete shown.lease_until;
  delete shown.active;
  return RerunJobSchema.parse(shown);
}
