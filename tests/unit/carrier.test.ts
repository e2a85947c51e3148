// The bulk re-run carrier over the memory ledger and operations state, with a stand-in for the
// pipeline that turns each published request into a re-run execution: paced requests, one per
// underwriting, followed to their results; and a job whose counters outran its items still ends.
import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, describe, expect, it } from 'vitest';

import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import type { UnderwritingCreated } from '../../src/events/underwriting-created.js';
import { createMemoryLedger } from '../../src/ledger/memory.js';
import { createMemoryOpsState } from '../../src/ledger/ops-memory.js';
import { NO_COUNTS, type StoredRerunJob } from '../../src/ledger/ops-records.js';
import { newExecutionId } from '../../src/processors/execution-id.js';
import type { RunOutcome } from '../../src/processors/run.js';
import { createBulkReruns } from '../../src/ops/bulk.js';
import { startCarrier, type Carrier } from '../../src/ops/carrier.js';
import { capturingLog } from '../helpers/fixtures.js';
import { until } from '../helpers/ops-service.js';

const outcome = (id: string, failed: boolean): RunOutcome =>
  failed
    ? {
        status: 'failed',
        processor_id: id,
        execution_id: newExecutionId(),
        execution_time: 0,
        attempts: 0,
        error_message: 'not called: paused',
        error_code: 'PROCESSOR_PAUSED',
      }
    : {
        status: 'completed',
        processor_id: id,
        execution_id: newExecutionId(),
        execution_time: 0.1,
        attempts: 1,
        factors: {},
      };

const result = (uw: string, status: ProcessingCompleted['overall_status']) =>
  ({
    underwriting_id: uw,
    overall_status: status,
    completed_at: new Date().toISOString(),
  }) as ProcessingCompleted;

let carriers: Carrier[] = [];
afterEach(async () => {
  await Promise.all(carriers.map((c) => c.close()));
  carriers = [];
});

/** `onPublish` runs as each request is published, before the pipeline takes it. */
async function setUp(
  underwritings: string[],
  onPublish?: (event: UnderwritingCreated, bulk: ReturnType<typeof createBulkReruns>) => Promise<void>,
) {
  const ledger = createMemoryLedger();
  const state = createMemoryOpsState();
  for (const uw of underwritings) {
    const begun = await ledger.begin({
      key: `first-${uw}`,
      underwritingId: uw,
      sourceMessageId: `m-${uw}`,
      documents: ['d'],
    });
    if (begun.state !== 'claimed') throw new Error('claimed');
    begun.claim.record(outcome('p_v1', true));
    begun.claim.record(outcome('q_v1', false));
    await begun.claim.published(result(uw, 'partial_success'));
  }
  const published: UnderwritingCreated[] = [];
  // The pipeline: each request becomes an execution with its key, p_v1 completing this time.
  const publish = async (event: UnderwritingCreated) => {
    await onPublish?.(event, bulk);
    published.push(event);
    const begun = await ledger.begin({
      key: event.data.event_id ?? '',
      underwritingId: event.data.underwriting_id,
      sourceMessageId: 'rerun',
      rerun: event.data.rerun,
    });
    if (begun.state === 'claimed') {
      begun.claim.record(outcome('p_v1', false));
      await begun.claim.published(result(event.data.underwriting_id, 'success'));
    }
    return 'message-id';
  };
  const { log, lines } = capturingLog();
  const history = ledger.history!;
  const carrier = startCarrier({
    jobs: state.jobs,
    history,
    publish,
    log,
    owner: 'me',
    options: { tickMs: 10, idleMs: 20 },
  });
  carriers.push(carrier);
  const bulk = createBulkReruns({ state: () => state, history: () => history, carrier, owner: 'me' });
  return { state, bulk, published, lines };
}

const by = { email: 'ops@example.com', role: 'operator' as const };
const since = new Date(Date.now() - 60_000).toISOString();

describe('the bulk re-run carrier', () => {
  it('requests one re-run per underwriting at the pace, each with its own key, and follows them to done', async () => {
    const ids = ['uw_a', 'uw_b', 'uw_c', 'uw_d'];
    const { bulk, published, state } = await setUp(ids);
    const started = Date.now();
    const answer = await bulk.bulkRerun(
      { processors: ['p_v1'], status: 'failed', since, reason: 'back', dry_run: false, pace_per_second: 8 },
      by,
      'k1',
    );
    if (!('job' in answer)) throw new Error('a job');
    const done = await until(
      'the job to be done',
      async () => {
        const found = await state.jobs.get(answer.job.id);
        return found?.job.state === 'done' ? found.job : undefined;
      },
      10_000,
    );
    expect(done.counts).toEqual({ selected: 4, requested: 4, finished: 4, failed: 0, skipped: 0 });
    expect(done.active).toBe(false);
    expect(published.map((e) => e.data.underwriting_id).sort()).toEqual(ids);
    expect(new Set(published.map((e) => e.data.event_id)).size).toBe(4);
    expect(published[0]?.data.rerun).toMatchObject({
      processors: ['p_v1'],
      job: answer.job.id,
      requested_by: by.email,
      reason: 'back',
    });
    // 8 a second, one second's worth at most at once: the four go out over at least a quarter second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // The same key: the same job, and nothing requested again.
    const again = await bulk.bulkRerun(
      { processors: ['p_v1'], status: 'failed', since, reason: 'back', dry_run: false },
      by,
      'k1',
    );
    expect(again).toMatchObject({ created: false, job: { id: answer.job.id } });
    await sleep(100);
    expect(published).toHaveLength(4);
  });

  it('follows a re-run it published while an operator cancelled the job, and requests nothing more', async () => {
    let cancelled = false;
    // The cancel lands between the carrier's record of the request and its record of the publish.
    const { bulk, published, state } = await setUp(['uw_a', 'uw_b', 'uw_c'], async (event, api) => {
      if (cancelled) return;
      cancelled = true;
      await api.cancelJob(event.data.rerun?.job ?? '', 'enough', by);
    });
    const answer = await bulk.bulkRerun(
      { processors: ['p_v1'], status: 'failed', since, reason: 'back', dry_run: false, pace_per_second: 1 },
      by,
      'k-cancel',
    );
    if (!('job' in answer)) throw new Error('a job');
    const over = await until(
      'the cancelled job to follow its one request',
      async () => {
        const found = await state.jobs.get(answer.job.id);
        return found && !found.job.active ? found.job : undefined;
      },
      10_000,
    );
    expect(over).toMatchObject({ state: 'cancelled', counts: { selected: 3, requested: 1, finished: 1 } });
    expect(published).toHaveLength(1);
  });

  it('ends a job whose counters say more is pending than its items hold, counting the rest as skipped', async () => {
    const { state, lines } = await setUp([]);
    const at = new Date().toISOString();
    const job: StoredRerunJob = {
      id: 'job-stray',
      idempotency_key: null,
      state: 'running',
      selection: {
        processors: ['p_v1'],
        status: 'failed',
        since,
        until: at,
        error_code: null,
        error_text: null,
      },
      reason: 'r',
      requested_by: by.email,
      pace_per_second: 10,
      created_at: at,
      updated_at: at,
      finished_at: null,
      cancelled_by: null,
      cancelled_at: null,
      counts: { ...NO_COUNTS, selected: 2 },
      owner: null,
      lease_until: 0,
      active: true,
    };
    await state.jobs.create(job, {
      id: 'a1',
      at,
      by: by.email,
      action: 'rerun_job',
      subject: job.id,
      reason: 'r',
      selection: {},
      result: {},
    });
    const done = await until(
      'the job to end',
      async () => {
        const found = await state.jobs.get(job.id);
        return found && !found.job.active ? found.job : undefined;
      },
      10_000,
    );
    expect(done).toMatchObject({ state: 'done', counts: { selected: 2, requested: 0, skipped: 2 } });
    expect(
      lines.some(
        (l) => l['message'] === 'bulk re-run job: no pending item left; the rest counted as skipped',
      ),
    ).toBe(true);
  });
});
