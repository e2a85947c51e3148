// Carries bulk re-run jobs on: every instance runs one carrier, and any of them can take a job
// over once its holder's lease ran out (a crashed instance, a deploy). One job at a time per
// instance; carrier-plan.ts decides, this shell reads, writes and publishes.
//
// No underwriting is requested twice by one job, even across restarts: an item's execution key is
// minted and written (with the job's `requested` counter, in one write conditional on the job's
// version) BEFORE its request is published, and marked published after. A carrier that dies
// between the two leaves items "requested, not published"; whoever carries the job on publishes
// them again with the SAME key, and the ledger makes every publish of one key one execution
// (processors that completed are not run again; a published result is not published again). So a
// request may reach Pub/Sub twice, but it is one re-run. The other order (publish, then record)
// would re-run an underwriting twice after such a crash; recording without publishing again would
// lose it.
import { ulid } from 'ulid';

import { messageOf } from '../errors.js';
import type { UnderwritingCreated } from '../events/underwriting-created.js';
import type { LedgerHistory } from '../ledger/history.js';
import type {
  JobChange,
  JobVersion,
  RerunItem,
  RerunJobStore,
  StoredRerunJob,
} from '../ledger/ops-records.js';
import type { Logger } from '../logging.js';
import { pendingOf, requestBudget, settleItem, stepsOf } from './carrier-plan.js';
import { rerunRequest } from './rerun-request.js';
import { selectRuns, supersededBy, type Candidate } from './selection.js';

export const RERUN_JOB_DEFAULTS = {
  /** How long a carrier holds a job without writing to it; another instance takes it over after. */
  leaseMs: 15_000,
  /** Between turns while holding a job. */
  tickMs: 1_000,
  /** Between looks for a job to carry on, while holding none. */
  idleMs: 10_000,
  /** How long a requested re-run is waited for before it counts as failed. */
  followMs: 3_600_000,
  /** Requested items checked against the ledger per turn. */
  followBatch: 20,
  /** Items per write (a Firestore batch holds 500 writes). */
  itemsPerWrite: 400,
  /** Re-run requests per second, unless the job says otherwise. */
  pacePerSecond: 2,
} as const;

export type CarrierOptions = { [K in keyof typeof RERUN_JOB_DEFAULTS]: number };

export interface CarrierDeps {
  jobs: RerunJobStore;
  history: LedgerHistory;
  publish(event: UnderwritingCreated, attributes: Record<string, string>): Promise<string>;
  log: Logger;
  /** This instance, as the jobs' `owner`. */
  owner: string;
  options?: Partial<CarrierOptions>;
  now?: () => number;
}

export interface Carrier {
  /** Looks for work now (after a job was created here). */
  wake(): void;
  /** Stops after the turn in progress; the job's lease then lets another instance carry it on. */
  close(): Promise<void>;
}

interface Held {
  id: string;
  version: JobVersion;
  job: StoredRerunJob;
  lastRequestAt: number;
  carry: number;
  followAfter: string | undefined;
  /** Requested items may wait for their publish (after a takeover, or a failed publish). */
  unpublished: boolean;
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

export function startCarrier(deps: CarrierDeps): Carrier {
  const o: CarrierOptions = { ...RERUN_JOB_DEFAULTS, ...deps.options };
  const { jobs, history, log, owner } = deps;
  const now = deps.now ?? Date.now;
  const iso = (ms: number) => new Date(ms).toISOString();
  let held: Held | undefined;
  let timer: NodeJS.Timeout | undefined;
  let turning: Promise<void> | undefined;
  let again = false;
  let closed = false;

  function schedule(ms: number): void {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      turning = turn().finally(() => {
        turning = undefined;
        const soon = again;
        again = false;
        schedule(held || soon ? o.tickMs : o.idleMs);
      });
    }, ms).unref();
  }

  async function turn(): Promise<void> {
    try {
      held ??= await claimOne();
      if (held) await work(held);
    } catch (err) {
      log.warn({ job: held?.id, err: messageOf(err) }, 'bulk re-run job: a turn failed; tried again');
    }
  }

  async function claimOne(): Promise<Held | undefined> {
    for (const id of await jobs.active(10)) {
      const found = await jobs.get(id);
      if (!found?.job.active) continue;
      const { job, version } = found;
      const at = now();
      if (job.owner !== owner && job.lease_until > at) continue;
      const taken = await jobs.commit(id, version, {
        job: { owner, lease_until: at + o.leaseMs, updated_at: iso(at) },
      });
      if (taken === undefined) continue;
      log.info(
        { job: id, state: job.state, counts: job.counts, previous_owner: job.owner },
        'carrying on a bulk re-run job',
      );
      return {
        id,
        version: taken,
        job: { ...job, owner, lease_until: at + o.leaseMs },
        lastRequestAt: at,
        carry: 0,
        followAfter: undefined,
        unpublished: true,
      };
    }
    return undefined;
  }

  /** One write to the held job, renewing its lease; `false` when the job changed meanwhile. */
  async function write(h: Held, change: JobChange): Promise<boolean> {
    const at = now();
    const job = { ...change.job, owner, lease_until: at + o.leaseMs, updated_at: iso(at) };
    const version = await jobs.commit(h.id, h.version, { ...change, job });
    if (version === undefined) {
      await reload(h);
      return false;
    }
    h.version = version;
    const counts = { ...h.job.counts };
    for (const [name, add] of Object.entries(change.counts ?? {})) counts[name as keyof typeof counts] += add;
    h.job = { ...h.job, ...job, counts };
    return true;
  }

  /** Someone else wrote to the job (a cancel, a takeover): read it again, and let it go if not ours. */
  async function reload(h: Held): Promise<void> {
    const found = await jobs.get(h.id);
    if (found && found.job.owner === owner && found.job.active) {
      h.version = found.version;
      h.job = found.job;
      return;
    }
    log.info({ job: h.id }, 'no longer carrying the bulk re-run job (taken over, or over)');
    held = undefined;
  }

  async function work(h: Held): Promise<void> {
    if (h.unpublished && h.job.state !== 'selecting') await republish(h);
    for (const step of stepsOf(h.job)) {
      if (held !== h) return;
      if (step === 'select') await select(h);
      else if (step === 'request') await request(h);
      else if (step === 'follow') await follow(h);
      else await finish(h);
    }
    if (held === h && h.job.lease_until - now() < o.leaseMs / 2) await write(h, {});
  }

  async function select(h: Held): Promise<void> {
    const { candidates, truncated } = await selectRuns(history, h.job.selection);
    if (truncated) log.warn({ job: h.id }, 'bulk re-run selection truncated to its first underwritings');
    for (let at = 0; at < candidates.length; at += o.itemsPerWrite) {
      if (!(await write(h, { items: itemsOf(candidates.slice(at, at + o.itemsPerWrite)) }))) return;
    }
    await write(h, {
      job: { state: 'running' },
      counts: { selected: candidates.length - h.job.counts.selected },
    });
  }

  async function request(h: Held): Promise<void> {
    const budget = requestBudget(h.job.pace_per_second, h.lastRequestAt, h.carry, now());
    if (budget.count === 0) return;
    h.lastRequestAt = now();
    h.carry = budget.carry;
    const pending = await jobs.items(h.id, 'pending', { limit: budget.count });
    if (pending.length === 0) {
      // The counters say some are pending, the items say none (a selection an instance stopped in):
      // what cannot be requested is counted as skipped, so that the job can end.
      log.warn(
        { job: h.id, counts: h.job.counts },
        'bulk re-run job: no pending item left; the rest counted as skipped',
      );
      await write(h, { counts: { skipped: pendingOf(h.job) } });
      return;
    }
    const latest = await Promise.all(pending.map((i) => history.underwriting(i.underwriting_id, 1)));
    const at = now();
    const changed = pending.map((item, i): RerunItem => {
      const why = supersededBy(item.of, latest[i]?.[0]);
      if (why !== undefined) return { ...item, state: 'skipped', note: why };
      return { ...item, state: 'requested', key: ulid(), requested_at: at, published: false };
    });
    const requested = changed.filter((i) => i.state === 'requested');
    const counts = { requested: requested.length, skipped: changed.length - requested.length };
    // Recorded first, published after: see the top of this file.
    if (changed.length === 0 || !(await write(h, { items: changed, counts }))) return;
    const published: RerunItem[] = [];
    for (const item of requested) {
      const earlier = latest[pending.findIndex((p) => p.id === item.id)]?.[0];
      if (earlier && (await publishOne(h, item, earlier))) published.push({ ...item, published: true });
    }
    if (published.length > 0) await markPublished(h, published);
  }

  /**
   * Records that these items' re-runs were published: a fact, so a write lost to a concurrent one
   * (an operator's cancel) is made again on the job as it now is. Failing that, the next turn
   * publishes them again, under the same keys: the ledger makes that the same re-run.
   */
  async function markPublished(h: Held, items: RerunItem[], counts?: JobChange['counts']): Promise<void> {
    if (await write(h, { items, counts })) return;
    if (held === h && (await write(h, { items, counts }))) return;
    h.unpublished = true;
  }

  async function publishOne(
    h: Held,
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
      await deps.publish(event, attributes);
      return true;
    } catch (err) {
      h.unpublished = true;
      log.warn(
        { job: h.id, underwriting_id: item.underwriting_id, err: messageOf(err) },
        'bulk re-run request not published; tried again',
      );
      return false;
    }
  }

  /**
   * Publishes again, with their keys, the requested items whose publish was not confirmed: as many
   * a turn as the pace allows (they were requested already, but their services are just back).
   */
  async function republish(h: Held): Promise<void> {
    const limit = Math.max(1, Math.ceil(h.job.pace_per_second));
    const waiting = await jobs.items(h.id, 'requested', { limit, published: false });
    h.unpublished = waiting.length === limit;
    const done: RerunItem[] = [];
    let gone = 0;
    for (const item of waiting) {
      const earlier = await history.execution(item.of);
      if (!earlier) {
        done.push({ ...item, state: 'failed', note: 'the execution is no longer in the ledger' });
        gone += 1;
      } else if (await publishOne(h, item, earlier)) {
        done.push({ ...item, published: true });
      }
    }
    if (done.length > 0) await markPublished(h, done, { failed: gone });
  }

  async function follow(h: Held): Promise<void> {
    const items = await jobs.items(h.id, 'requested', { limit: o.followBatch, after: h.followAfter });
    h.followAfter = items.length < o.followBatch ? undefined : items.at(-1)?.id;
    const checked = items.filter((i) => i.published && i.key !== null);
    const executions = await Promise.all(checked.map((i) => history.execution(i.key ?? '')));
    const at = now();
    const settled: RerunItem[] = [];
    const counts = { finished: 0, failed: 0 };
    checked.forEach((item, i) => {
      const verdict = settleItem(item, executions[i], at, o.followMs);
      if (!verdict) return;
      counts[verdict.state] += 1;
      settled.push({ ...item, ...verdict });
    });
    if (settled.length > 0) await write(h, { items: settled, counts });
  }

  async function finish(h: Held): Promise<void> {
    const state = h.job.state === 'running' ? 'done' : h.job.state;
    if (await write(h, { job: { active: false, state, finished_at: iso(now()) } })) {
      log.info({ job: h.id, state, counts: h.job.counts }, 'bulk re-run job over');
      held = undefined;
    }
  }

  schedule(0);
  return {
    wake() {
      if (turning) again = true;
      else schedule(0);
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await turning;
    },
  };
}
