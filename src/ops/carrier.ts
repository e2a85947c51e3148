// Carries bulk re-run jobs on: every instance runs one carrier, and any of them can take a job
// over once its holder's lease ran out (a crashed instance, a deploy). One job at a time per
// instance. carrier-plan.ts decides; carrier-job.ts holds the job (its version, its lease) and
// writes to it; carrier-steps.ts does each step; this file is the loop of turns.
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
import type { UnderwritingCreated } from '../events/underwriting-created.js';
import { messageOf } from '../errors.js';
import type { LedgerHistory } from '../ledger/history.js';
import type { RerunJobStore } from '../ledger/ops-records.js';
import type { Logger } from '../logging.js';
import { claimJob, type HeldJob, type JobHolding } from './carrier-job.js';
import { leaseDue, nextTurnMs, stepsOf } from './carrier-plan.js';
import { republish, runStep, type StepContext } from './carrier-steps.js';

export { itemsOf } from './carrier-plan.js';

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

export function startCarrier(deps: CarrierDeps): Carrier {
  const options: CarrierOptions = { ...RERUN_JOB_DEFAULTS, ...deps.options };
  const now = deps.now ?? Date.now;
  const holding: JobHolding = { ...deps, now, leaseMs: options.leaseMs };
  const steps: StepContext = { ...deps, now, options };
  let held: HeldJob | undefined;
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
        const woken = again;
        again = false;
        schedule(nextTurnMs(held !== undefined, woken, options));
      });
    }, ms).unref();
  }

  async function turn(): Promise<void> {
    try {
      held ??= await claimJob(holding);
      if (held) await work(held);
    } catch (err) {
      deps.log.warn({ job: held?.id, err: messageOf(err) }, 'bulk re-run job: a turn failed; tried again');
    } finally {
      if (held?.released) held = undefined;
    }
  }

  async function work(h: HeldJob): Promise<void> {
    if (h.unpublished && h.job.state !== 'selecting') await republish(steps, h);
    for (const step of stepsOf(h.job)) {
      if (h.released) return;
      await runStep(steps, h, step);
    }
    if (!h.released && leaseDue(h.job, now(), options.leaseMs)) await h.write({});
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
