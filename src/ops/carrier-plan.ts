// The decisions of a bulk re-run job's carrier, as pure functions over the job's counters, the
// clock and what the ledger says; carrier.ts is the shell that reads, writes and publishes.
//
// A job's life: `selecting` (its items are written) → `running` (items are requested at its pace,
// and each requested one is followed until its re-run is published) → `done`. `cancelled` stops
// the requests at once; the re-runs requested before are still followed, so the counts stay true.
// Its counters move with its items, in the same atomic write: pending = selected − requested −
// skipped, in progress = requested − finished − failed.
import type { ExecutionRecord } from '../ledger/history.js';
import type { RerunItem, StoredRerunJob } from '../ledger/ops-records.js';

/** What a carrier does with its job in one turn, in this order. */
export type Step = 'select' | 'request' | 'follow' | 'finish';

export function pendingOf(job: Pick<StoredRerunJob, 'counts'>): number {
  const { selected, requested, skipped } = job.counts;
  return Math.max(0, selected - requested - skipped);
}

export function inProgressOf(job: Pick<StoredRerunJob, 'counts'>): number {
  const { requested, finished, failed } = job.counts;
  return Math.max(0, requested - finished - failed);
}

/** The steps of one turn. */
export function stepsOf(job: Pick<StoredRerunJob, 'state' | 'counts' | 'active'>): Step[] {
  if (!job.active || job.state === 'done') return [];
  if (job.state === 'selecting') return ['select'];
  const requesting = job.state === 'running' && pendingOf(job) > 0;
  const following = inProgressOf(job) > 0;
  if (!requesting && !following) return ['finish'];
  return [...(requesting ? (['request'] as const) : []), ...(following ? (['follow'] as const) : [])];
}

/**
 * How many requests the pace allows now: `pace` a second, accrued since `lastAt` on top of the
 * fraction left over (`carry`), at most one second's worth at once (no burst after a pause).
 */
export function requestBudget(
  pace: number,
  lastAt: number,
  carry: number,
  now: number,
): { count: number; carry: number } {
  const tokens = Math.min(Math.max(1, pace), carry + (Math.max(0, now - lastAt) / 1000) * pace);
  const count = Math.floor(tokens);
  return { count, carry: tokens - count };
}

/**
 * A requested item's result, from the execution the re-run made (its key): `finished` when the
 * re-run was published and every selected processor completed in it, `failed` (with why) when one
 * did not, or when no result came within `followMs`; `undefined` while it may still come.
 */
export function settleItem(
  item: Pick<RerunItem, 'processors' | 'requested_at'>,
  execution: Pick<ExecutionRecord, 'finishedAt' | 'runs'> | undefined,
  now: number,
  followMs: number,
): { state: 'finished' | 'failed'; note: string | null } | undefined {
  if (execution?.finishedAt) {
    const notDone = item.processors
      .map((id) => execution.runs.find((r) => r.processorId === id))
      .filter((run) => run?.status !== 'completed');
    if (notDone.length === 0) return { state: 'finished', note: null };
    const why = notDone.map((run) =>
      run
        ? `${run.processorId} ${run.status}${run.errorCode ? ` (${run.errorCode})` : ''}`
        : 'a processor is missing',
    );
    return { state: 'failed', note: `still not completed: ${why.join(', ')}` };
  }
  if (item.requested_at !== null && now - item.requested_at > followMs) {
    return { state: 'failed', note: `no result within ${Math.round(followMs / 60_000)} min of the request` };
  }
  return undefined;
}
