// What a carrier does with the job it holds, one step at a time (carrier-plan.ts's `stepsOf` says
// which): select its items, request re-runs at its pace (recorded first, published after: see
// carrier.ts), follow what was requested to a result, and finish. Each step reads the ledger, lets
// a pure function of carrier-plan.ts decide, and writes through the held job.
import { ulid } from 'ulid';

import { messageOf } from '../errors.js';
import type { UnderwritingCreated } from '../events/underwriting-created.js';
import type { LedgerHistory } from '../ledger/history.js';
import type { JobChange, RerunItem, RerunJobStore } from '../ledger/ops-records.js';
import type { Logger } from '../logging.js';
import type { HeldJob } from './carrier-job.js';
import {
  endState,
  itemsOf,
  pendingOf,
  requestBudget,
  requestItems,
  settleItems,
  type Step,
} from './carrier-plan.js';
import { rerunRequest } from './rerun-request.js';
import { selectRuns } from './selection.js';

/** What the steps read, publish and log through, and their bounds. */
export interface StepContext {
  jobs: RerunJobStore;
  history: LedgerHistory;
  publish(event: UnderwritingCreated, attributes: Record<string, string>): Promise<string>;
  log: Logger;
  now: () => number;
  options: { itemsPerWrite: number; followBatch: number; followMs: number };
}

export function runStep(ctx: StepContext, h: HeldJob, step: Step): Promise<void> {
  if (step === 'select') return select(ctx, h);
  if (step === 'request') return request(ctx, h);
  if (step === 'follow') return follow(ctx, h);
  return finish(ctx, h);
}

async function select(ctx: StepContext, h: HeldJob): Promise<void> {
  const per = ctx.options.itemsPerWrite;
  const { candidates, truncated } = await selectRuns(ctx.history, h.job.selection);
  if (truncated) ctx.log.warn({ job: h.id }, 'bulk re-run selection truncated to its first underwritings');
  for (let at = 0; at < candidates.length; at += per) {
    if (!(await h.write({ items: itemsOf(candidates.slice(at, at + per)) }))) return;
  }
  await h.write({
    job: { state: 'running' },
    counts: { selected: candidates.length - h.job.counts.selected },
  });
}

async function request(ctx: StepContext, h: HeldJob): Promise<void> {
  const budget = requestBudget(h.job.pace_per_second, h.lastRequestAt, h.carry, ctx.now());
  if (budget.count === 0) return;
  h.lastRequestAt = ctx.now();
  h.carry = budget.carry;
  const pending = await ctx.jobs.items(h.id, 'pending', { limit: budget.count });
  if (pending.length === 0) {
    // The counters say some are pending, the items say none (a selection an instance stopped in):
    // what cannot be requested is counted as skipped, so that the job can end.
    ctx.log.warn(
      { job: h.id, counts: h.job.counts },
      'bulk re-run job: no pending item left; the rest counted as skipped',
    );
    await h.write({ counts: { skipped: pendingOf(h.job) } });
    return;
  }
  const latest = await Promise.all(pending.map((i) => ctx.history.underwriting(i.underwriting_id, 1)));
  const latestOf = latest.map((found) => found[0]);
  const { items, counts } = requestItems(pending, latestOf, ctx.now(), ulid);
  // Recorded first, published after: see the top of carrier.ts.
  if (!(await h.write({ items, counts }))) return;
  const published: RerunItem[] = [];
  for (const [i, item] of items.entries()) {
    const earlier = latestOf[i];
    if (item.state !== 'requested' || !earlier) continue;
    if (await publishOne(ctx, h, item, earlier)) published.push({ ...item, published: true });
  }
  if (published.length > 0) await markPublished(h, published);
}

/**
 * Publishes again, with their keys, the requested items whose publish was not confirmed: as many
 * a turn as the pace allows (they were requested already, but their services are just back).
 */
export async function republish(ctx: StepContext, h: HeldJob): Promise<void> {
  const limit = Math.max(1, Math.ceil(h.job.pace_per_second));
  const waiting = await ctx.jobs.items(h.id, 'requested', { limit, published: false });
  h.unpublished = waiting.length === limit;
  const done: RerunItem[] = [];
  let gone = 0;
  for (const item of waiting) {
    const earlier = await ctx.history.execution(item.of);
    if (!earlier) {
      done.push({ ...item, state: 'failed', note: 'the execution is no longer in the ledger' });
      gone += 1;
    } else if (await publishOne(ctx, h, item, earlier)) {
      done.push({ ...item, published: true });
    }
  }
  if (done.length > 0) await markPublished(h, done, { failed: gone });
}

/**
 * Records that these items' re-runs were published: a fact, so a write lost to a concurrent one
 * (an operator's cancel) is made again on the job as it now is. Failing that, the next turn
 * publishes them again, under the same keys: the ledger makes that the same re-run.
 */
async function markPublished(h: HeldJob, items: RerunItem[], counts?: JobChange['counts']): Promise<void> {
  if (await h.write({ items, counts })) return;
  if (!h.released && (await h.write({ items, counts }))) return;
  h.unpublished = true;
}

async function publishOne(
  ctx: StepContext,
  h: HeldJob,
  item: RerunItem,
  earlier: Parameters<typeof rerunRequest>[0],
): Promise<boolean> {
  const { event, attributes } = rerunRequest(earlier, item.key ?? '', {
    processors: item.processors,
    requestedBy: h.job.requested_by,
    reason: h.job.reason,
    job: h.id,
  });
  try {
    await ctx.publish(event, attributes);
    return true;
  } catch (err) {
    h.unpublished = true;
    ctx.log.warn(
      { job: h.id, underwriting_id: item.underwriting_id, err: messageOf(err) },
      'bulk re-run request not published; tried again',
    );
    return false;
  }
}

async function follow(ctx: StepContext, h: HeldJob): Promise<void> {
  const { followBatch, followMs } = ctx.options;
  const items = await ctx.jobs.items(h.id, 'requested', { limit: followBatch, after: h.followAfter });
  h.followAfter = items.length < followBatch ? undefined : items.at(-1)?.id;
  const checked = items.filter((i) => i.published && i.key !== null);
  const executions = await Promise.all(checked.map((i) => ctx.history.execution(i.key ?? '')));
  const { settled, counts } = settleItems(checked, executions, ctx.now(), followMs);
  if (settled.length > 0) await h.write({ items: settled, counts });
}

async function finish(ctx: StepContext, h: HeldJob): Promise<void> {
  const state = endState(h.job.state);
  if (await h.write({ job: { active: false, state, finished_at: new Date(ctx.now()).toISOString() } })) {
    ctx.log.info({ job: h.id, state, counts: h.job.counts }, 'bulk re-run job over');
    h.release();
  }
}
