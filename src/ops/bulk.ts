// Bulk re-runs: a dry run counts what a selection would re-run; without `dry_run`, a durable job is
// made (its id from the Idempotency-Key, so a repeated POST finds the same job), its items written,
// and the carriers (carrier.ts) request one re-run per underwriting at the job's pace. What is
// decided (the selection, the job, a repeated key, a cancel) is bulk-plan.ts; this file reads and
// writes.
import { ulid } from 'ulid';

import { OrchestratorError } from '../errors.js';
import type { LedgerHistory } from '../ledger/history.js';
import { documentId } from '../ledger/ledger.js';
import type { OpsState, RerunSelection, StoredRerunJob } from '../ledger/ops-records.js';
import { auditEntry, scopeOf } from './audit-trail.js';
import { cancelOf, newJob, publicJob, sameRequest, selectionOf, selectionRefusal } from './bulk-plan.js';
import { itemsOf } from './carrier-plan.js';
import { RERUN_JOB_DEFAULTS, type Carrier } from './carrier.js';
import { SELECTION_LIMITS, selectRuns } from './selection.js';
import type { BulkRerunRequest, DryRunView, JobAnswer, OpsApi, OpsIdentity } from './views.js';

export { publicJob };

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
  return {
    bulkRerun(request, by, key) {
      const selection = selectionOf(request, Date.now());
      return request.dry_run ? dryRun(deps, selection) : createJob(deps, request, selection, by, key);
    },

    async job(id) {
      return answerOf(deps, (await stored(deps, id)).job, false);
    },

    async jobs() {
      const state = deps.state();
      return { jobs: (await state.jobs.recent(20)).map(publicJob), ...scopeOf(state.scope) };
    },

    cancelJob: (id, reason, by) => cancelJob(deps, id, reason, by),
  };
}

function answerOf(deps: BulkDeps, job: StoredRerunJob, created: boolean): JobAnswer {
  return { job: publicJob(job), created, ...scopeOf(deps.state().scope) };
}

async function stored(deps: BulkDeps, id: string) {
  const found = await deps.state().jobs.get(id);
  if (!found) throw new OrchestratorError('NOT_FOUND', `no bulk re-run job ${id}`);
  return found;
}

async function dryRun(deps: BulkDeps, selection: RerunSelection): Promise<DryRunView> {
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

async function createJob(
  deps: BulkDeps,
  request: BulkRerunRequest,
  selection: RerunSelection,
  by: OpsIdentity,
  key: string | undefined,
): Promise<JobAnswer> {
  const { jobs } = deps.state();
  const id = key === undefined ? ulid() : documentId(`rerun-job\n${key}`);
  const earlier = key === undefined ? undefined : await jobs.get(id);
  if (earlier) return answerOf(deps, sameRequest(earlier.job, request, by), false);

  const selected = await selectRuns(deps.history(), selection);
  const refusal = selectionRefusal(selected);
  if (refusal !== undefined) throw new OrchestratorError('RERUN_REFUSED', refusal);
  const { candidates } = selected;
  const { leaseMs, pacePerSecond } = RERUN_JOB_DEFAULTS;
  const job = newJob({
    id,
    key,
    request,
    selection,
    by,
    owner: deps.owner,
    pacePerSecond,
    leaseMs,
    now: Date.now(),
  });
  const audit = auditEntry(
    by,
    'rerun_job',
    id,
    request.reason,
    { ...selection, pace_per_second: job.pace_per_second },
    { job: id, selected: candidates.length },
  );
  const made = await jobs.create(job, audit);
  if (!made.created) return answerOf(deps, sameRequest(made.job, request, by), false);
  // The items, then the count: a carrier taking over a job that is still `selecting` selects again.
  let version = made.version;
  const items = itemsOf(candidates);
  const per = RERUN_JOB_DEFAULTS.itemsPerWrite;
  for (let i = 0; i < items.length && version !== undefined; i += per) {
    const lease_until = Date.now() + leaseMs;
    version = await jobs.commit(id, version, { items: items.slice(i, i + per), job: { lease_until } });
  }
  if (version !== undefined) {
    // Open to this instance's carrier at once (and to any other if this one stops).
    await jobs.commit(id, version, {
      job: { state: 'running', lease_until: Date.now(), updated_at: new Date().toISOString() },
      counts: { selected: candidates.length },
    });
  }
  deps.carrier?.wake();
  const now = await jobs.get(id);
  return answerOf(deps, now?.job ?? job, true);
}

async function cancelJob(
  deps: BulkDeps,
  id: string,
  reason: string | undefined,
  by: OpsIdentity,
): Promise<JobAnswer> {
  const { jobs } = deps.state();
  for (let attempt = 0; attempt < CANCEL_TRIES; attempt += 1) {
    const { job, version } = await stored(deps, id);
    const change = cancelOf(job, by, Date.now());
    if (change === 'cancelled already') return answerOf(deps, job, false);
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
    const written = await jobs.commit(id, version, { ...change, audit });
    if (written !== undefined) return answerOf(deps, (await stored(deps, id)).job, false);
  }
  throw new OrchestratorError(
    'LEDGER_UNAVAILABLE',
    `bulk re-run job ${id} kept changing while it was cancelled; try again`,
  );
}
