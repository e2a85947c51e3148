// The job a carrier holds: its last known version and content, and every write to it, each
// conditional on that version and renewing the lease. A write that finds the job changed (an
// operator's cancel, another instance's takeover) reads it again and lets it go when it is no
// longer ours. How a job is taken is `claimJob`; what is done with it is carrier-steps.ts.
import type { JobChange, JobVersion, RerunJobStore, StoredRerunJob } from '../ledger/ops-records.js';
import type { Logger } from '../logging.js';
import { addCounts, mayCarry } from './carrier-plan.js';

/** What holding a job needs: the store, who we are, the clock and the lease. */
export interface JobHolding {
  jobs: RerunJobStore;
  owner: string;
  log: Logger;
  now: () => number;
  leaseMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class HeldJob {
  #released = false;
  /** When this carrier last asked for requests, and the fraction of one left over (the pace). */
  lastRequestAt: number;
  carry = 0;
  /** Where the next follow turn starts reading requested items. */
  followAfter: string | undefined;
  /** Requested items may wait for their publish (after a takeover, or a failed publish). */
  unpublished = true;

  constructor(
    readonly id: string,
    public version: JobVersion,
    public job: StoredRerunJob,
    private readonly holding: JobHolding,
    /** When it was taken: the pace counts from then. */
    takenAt: number,
  ) {
    this.lastRequestAt = takenAt;
  }

  /** Whether this carrier let the job go (it is over, or no longer ours). */
  get released(): boolean {
    return this.#released;
  }

  release(): void {
    this.#released = true;
  }

  /** One write to the job, renewing its lease; `false` when the job changed meanwhile. */
  async write(change: JobChange): Promise<boolean> {
    const { jobs, owner, leaseMs } = this.holding;
    const at = this.holding.now();
    const job = { ...change.job, owner, lease_until: at + leaseMs, updated_at: iso(at) };
    const version = await jobs.commit(this.id, this.version, { ...change, job });
    if (version === undefined) {
      await this.#reload();
      return false;
    }
    this.version = version;
    this.job = { ...this.job, ...job, counts: addCounts(this.job.counts, change.counts) };
    return true;
  }

  /** Someone else wrote to the job (a cancel, a takeover): read it again, and let it go if not ours. */
  async #reload(): Promise<void> {
    const found = await this.holding.jobs.get(this.id);
    if (found && found.job.owner === this.holding.owner && found.job.active) {
      this.version = found.version;
      this.job = found.job;
      return;
    }
    this.holding.log.info({ job: this.id }, 'no longer carrying the bulk re-run job (taken over, or over)');
    this.release();
  }
}

/** Takes the first active job no one else holds under a live lease, or `undefined`. */
export async function claimJob(holding: JobHolding): Promise<HeldJob | undefined> {
  const { jobs, owner, log, leaseMs } = holding;
  for (const id of await jobs.active(10)) {
    const found = await jobs.get(id);
    if (!found) continue;
    const { job, version } = found;
    const at = holding.now();
    if (!mayCarry(job, owner, at)) continue;
    const taken = await jobs.commit(id, version, {
      job: { owner, lease_until: at + leaseMs, updated_at: iso(at) },
    });
    if (taken === undefined) continue;
    log.info(
      { job: id, state: job.state, counts: job.counts, previous_owner: job.owner },
      'carrying on a bulk re-run job',
    );
    return new HeldJob(id, taken, { ...job, owner, lease_until: at + leaseMs }, holding, at);
  }
  return undefined;
}
