// The decisions of a bulk re-run job's carrier, as pure functions over the job's counters, the
// clock and what the ledger says; carrier.ts is the shell that reads, writes and publishes.
//
// A job's life: `selecting` (its items are written) → `running` (items are requested at its pace,
// and each requested one is followed until its re-run is published) → `done`. `cancelled` stops
// the requests at once; the re-runs requested before are still followed, so the counts stay true.
// Its counters move with its items, in the same atomic write: pending = selected − requested −
// skipped, in progress = requested − finished − failed.
import type { ExecutionRecord } from '../ledger/history.js';
import type { RerunCounts, RerunItem, StoredRerunJob } from '../ledger/ops-records.js';
import type { Candidate } from './selection.js';
import { supersededBy } from './selection.js';

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

/** Whether `owner` may carry this job now: it is active, and held by no one else under a live lease. */
export function mayCarry(
  job: Pick<StoredRerunJob, 'active' | 'owner' | 'lease_until'>,
  owner: string,
  now: number,
): boolean {
  return job.active && (job.owner === owner || job.lease_until <= now);
}

/** Whether the held job's lease is half gone, so that a turn that wrote nothing must renew it. */
export function leaseDue(job: Pick<StoredRerunJob, 'lease_until'>, now: number, leaseMs: number): boolean {
  return job.lease_until - now < leaseMs / 2;
}

/** The state a job ends in once every step is done: a running job is `done`; a cancelled one stays so. */
export function endState(state: StoredRerunJob['state']): StoredRerunJob['state'] {
  return state === 'running' ? 'done' : state;
}

/** How long until the next turn: soon while holding a job (or woken during a turn), else idle. */
export function nextTurnMs(holding: boolean, woken: boolean, o: { tickMs: number; idleMs: number }): number {
  return holding || woken ? o.tickMs : o.idleMs;
}

/** The counters after a write that adds `add` to them. */
export function addCounts(counts: RerunCounts, add: Partial<RerunCounts> | undefined): RerunCounts {
  const sum = { ...counts };
  for (const [name, n] of Object.entries(add ?? {})) sum[name as keyof RerunCounts] += n;
  return sum;
}

/** The items of a selection, as a job stores them. */
export function itemsOf(candidates: readonly Candidate[]): RerunItem[] {
  return candidates.map((c) => ({
    id: itemId(c.underwriting_id),
    underwriting_id: c.underwriting_id,
    of: c.of,
    processors: c.processors,
    state: 'pending',
    key: null,
    requested_at: null,
    published: false,
    note: null,
  }));
}

// Underwriting ids may hold `/`; a document id may not.
const itemId = (underwritingId: string) => Buffer.from(underwritingId).toString('base64url');

/**
 * What one request turn makes of the pending items, given each one's latest execution (same
 * order): `requested` with a new execution key (`mint`) when the execution it was selected for is
 * still the latest and finished, else `skipped` saying why; and the counters to add.
 */
export function requestItems(
  pending: readonly RerunItem[],
  latest: readonly (ExecutionRecord | undefined)[],
  at: number,
  mint: () => string,
): { items: RerunItem[]; counts: Pick<RerunCounts, 'requested' | 'skipped'> } {
  const items = pending.map((item, i): RerunItem => {
    const why = supersededBy(item.of, latest[i]);
    if (why !== undefined) return { ...item, state: 'skipped', note: why };
    return { ...item, state: 'requested', key: mint(), requested_at: at, published: false };
  });
  const requested = items.filter((i) => i.state === 'requested').length;
  return { items, counts: { requested, skipped: items.length - requested } };
}

/**
 * What one follow turn settles: the published requests whose re-run has a result (`settleItem`,
 * given each one's execution, same order), and the counters to add.
 */
export function settleItems(
  items: readonly RerunItem[],
  executions: readonly (Pick<ExecutionRecord, 'finishedAt' | 'runs'> | undefined)[],
  now: number,
  followMs: number,
): { settled: RerunItem[]; counts: Pick<RerunCounts, 'finished' | 'failed'> } {
  const settled: RerunItem[] = [];
  const counts = { finished: 0, failed: 0 };
  items.forEach((item, i) => {
    const verdict = settleItem(item, executions[i], now, followMs);
    if (!verdict) return;
    counts[verdict.state] += 1;
    settled.push({ ...item, ...verdict });
  });
  return { settled, counts };
}
