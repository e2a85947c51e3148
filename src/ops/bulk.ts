// Bulk re-runs: a dry run counts what a selection would re-run; without `dry_run`, a durable job is
// made (its id from the Idempotency-Key, so a repeated POST finds the same job), its items written,
// and the carriers (carrier.ts) request one re-run per underwriting at the job's pace.
import { ulid } from 'ulid';

import { OrchestratorError } from '../errors.js';
import type { LedgerHistory } from '../ledger/history.js';
import { documentId } from '../ledger/ledger.js';
import {
  NO_COUNTS,
  RerunJobSchema,
  type OpsState,
  type RerunSelection,
  type StoredRerunJob,
} from '../ledger/ops-records.js';
import { auditEntry, scopeOf } from './audit-trail.js';
import { RERUN_JOB_DEFAULTS, itemsOf, type Carrier } from './carrier.js';
import { SELECTION_LIMITS, selectRuns } from './selection.js';
import type { BulkRerunRequest, DryRunView, JobAnswer, OpsApi, OpsIdentity, RerunJob } from './views.js';

export interface BulkDeps {
  state(): OpsState;
  history(): LedgerHistory;
  /** Woken once a job is made here, so that this instance starts it at once. */
  carrier?: Pick<Carrier, 'wake'> | undefined;
  /** This instance, as the owner of the jobs it makes. */
  owner: string;
}

/** Cancelling tries this often when the job's carrier writes to it at the same moment. */
const CANCEL_TRIES = 5;

export function createBulkReruns(deps: BulkDeps): Pick<OpsApi, 'bulkRerun' | 'job' | 'jobs' | 'cancelJob'> {
  function answer(job: StoredRerunJob, created: boolean): JobAnswer {
    return { job: publicJob(job), created, ...scopeOf(deps.state().scope) };
  }

  async function dryRun(selection: RerunSelection): Promise<DryRunView> {
    const { candidates, truncated, scanned } = await selectRuns(deps.history(), selection);
    return {
      dry_run: true,
      selection,
      count: candidates.length,
      truncated,
      scanned,
      sample: candidates.slice(0, SELECTION_LIMITS.sample),
    };
  }

  async function create(
    request: BulkRerunRequest,
    selection: RerunSelection,
    by: OpsIdentity,
    key: string | undefined,
  ) {
    const { jobs } = deps.state();
    const id = key === undefined ? ulid() : documentId(`rerun-job\n${key}`);
    const earlier = key === undefined ? undefined : await jobs.get(id);
    if (earlier) return answer(sameRequest(earlier.job, request, by), false);

    const { candidates, truncated } = await selectRuns(deps.history(), selection);
    if (truncated) {
      throw new OrchestratorError(
        'RERUN_REFUSED',
        `the selection matches more than ${SELECTION_LIMITS.underwritings} underwritings (or more than ${SELECTION_LIMITS.scan} executions to read): narrow the time window`,
      );
    }
    if (candidates.length === 0) {
      throw new OrchestratorError(
        'RERUN_REFUSED',
        'the selection matches no underwriting: nothing to re-run',
      );
    }
    const now = Date.now();
    const at = new Date(now).toISOString();
    const job: StoredRerunJob = {
      id,
      idempotency_key: key ?? null,
      state: 'selecting',
      selection,
      reason: request.reason,
      requested_by: by.email,
      pace_per_second: request.pace_per_second ?? RERUN_JOB_DEFAULTS.pacePerSecond,
      created_at: at,
      updated_at: at,
      finished_at: null,
      cancelled_by: null,
      cancelled_at: null,
      counts: NO_COUNTS,
      owner: deps.owner,
      lease_until: now + RERUN_JOB_DEFAULTS.leaseMs,
      active: true,
    };
    const audit = auditEntry(
      by,
      'rerun_job',
      id,
      request.reason,
      { ...selection, pace_per_second: job.pace_per_second },
      { job: id, selected: candidates.length },
    );
    const made = await jobs.create(job, audit);
    if (!made.created) return answer(sameRequest(made.job, request, by), false);
    // The items, then the count: a carrier taking over a job that is still `selecting` selects again.
    let version = made.version;
    const items = itemsOf(candidates);
    for (let i = 0; i < items.length && version !== undefined; i += RERUN_JOB_DEFAULTS.itemsPerWrite) {
      const lease_until = Date.now() + RERUN_JOB_DEFAULTS.leaseMs;
      version = await jobs.commit(id, version, {
        items: items.slice(i, i + RERUN_JOB_DEFAULTS.itemsPerWrite),
        job: { lease_until },
      });
    }
    if (version !== undefined) {
      // Open to this instance's carrier at once (and to any other if this one stops).
      await jobs.commit(id, version, {
        job: { state: 'running', lease_until: Date.now(), updated_at: new Date().toISOString() },
        counts: { selected: candidates.length },
      });
    }
    deps.carrier?.wake();
    const stored = await jobs.get(id);
    return answer(stored?.job ?? job, true);
  }

  async function stored(id: string) {
    const found = await deps.state().jobs.get(id);
    if (!found) throw new OrchestratorError('NOT_FOUND', `no bulk re-run job ${id}`);
    return found;
  }

  return {
    bulkRerun(request, by, key) {
      const selection: RerunSelection = {
        processors: [...new Set(request.processors)],
        status: request.status,
        since: request.since,
        until: request.until ?? new Date().toISOString(),
        error_code: request.error_code ?? null,
        error_text: request.error_text ?? null,
      };
      if (Date.parse(selection.until) < Date.parse(selection.since)) {
        throw new OrchestratorError('REQUEST_INVALID', 'body: until is before since');
      }
      return request.dry_run ? dryRun(selection) : create(request, selection, by, key);
    },

    async job(id) {
      return answer((await stored(id)).job, false);
    },

    async jobs() {
      const state = deps.state();
      return { jobs: (await state.jobs.recent(20)).map(publicJob), ...scopeOf(state.scope) };
    },

    async cancelJob(id, reason, by) {
      const { jobs } = deps.state();
      for (let attempt = 0; attempt < CANCEL_TRIES; attempt += 1) {
        const { job, version } = await stored(id);
        if (job.state === 'cancelled') return answer(job, false);
        if (job.state === 'done' || !job.active) {
          throw new OrchestratorError(
            'RERUN_REFUSED',
            `bulk re-run job ${id} is over (${job.state}): nothing to cancel`,
          );
        }
        const at = new Date().toISOString();
        const audit = auditEntry(
          by,
          'rerun_job_cancel',
          id,
          reason,
          { job: id },
          {
            state_before: job.state,
            counts: job.counts,
          },
        );
        const written = await jobs.commit(id, version, {
          job: { state: 'cancelled', cancelled_by: by.email, cancelled_at: at, updated_at: at },
          audit,
        });
        if (written !== undefined) return answer((await stored(id)).job, false);
      }
      throw new OrchestratorError(
        'LEDGER_UNAVAILABLE',
        `bulk re-run job ${id} kept changing while it was cancelled; try again`,
      );
    },
  };
}

/**
 * The job a repeated Idempotency-Key names, if the request asks for the same: the same processors,
 * status, error filters and operator (its window and reason may differ: a command run again with
 * `--since 6h` computes its window anew; the job keeps the first). Else IDEMPOTENCY_KEY_REUSED.
 */
function sameRequest(job: StoredRerunJob, request: BulkRerunRequest, by: OpsIdentity): StoredRerunJob {
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

/** A job as the API shows it (who carries it, and its lease, are the carriers' business). */
export function publicJob(job: StoredRerunJob): RerunJob {
  const shown: Partial<StoredRerunJob> = { ...job };
  delete shown.owner;
  delete shown.lease_until;
  delete shown.active;
  return RerunJobSchema.parse(shown);
}
