import { describe, expect, it } from 'vitest';

import { OrchestratorError } from '../../src/errors.js';
import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import type { UnderwritingCreated } from '../../src/events/underwriting-created.js';
import type { ExecutionRecord } from '../../src/ledger/history.js';
import { createMemoryLedger } from '../../src/ledger/memory.js';
import { newExecutionId } from '../../src/processors/execution-id.js';
import type { RunOutcome } from '../../src/processors/run.js';
import { createOpsApi } from '../../src/ops/api.js';
import { percentile, statsOf } from '../../src/ops/stats.js';
import { ExecutionPageSchema, StatsViewSchema, UnderwritingViewSchema } from '../../src/ops/views.js';

const completed = (id: string, time = 1): RunOutcome => ({
  status: 'completed',
  processor_id: id,
  execution_id: newExecutionId(),
  execution_time: time,
  attempts: 1,
  factors: { ok: true },
});
const failed = (id: string): RunOutcome => ({
  status: 'failed',
  processor_id: id,
  execution_id: newExecutionId(),
  execution_time: 0.5,
  attempts: 1,
  error_message: 'down <img src=x onerror=alert(1)>',
});

const result = (uw: string, status: ProcessingCompleted['overall_status'], at: string) =>
  ({ underwriting_id: uw, overall_status: status, completed_at: at }) as ProcessingCompleted;

/** A memory ledger holding three published executions, completed in order a, b, c. */
async function ledgerWithThree() {
  const ledger = createMemoryLedger();
  const executions: [string, string, RunOutcome[], ProcessingCompleted['overall_status']][] = [
    ['k-a', 'uw_a', [completed('p1', 1), completed('p2', 3)], 'success'],
    ['k-b', 'uw_b', [completed('p1', 2), failed('p2')], 'partial_success'],
    ['k-c', 'uw_c', [completed('p1', 4)], 'success'],
  ];
  for (const [i, [key, uw, outcomes, status]] of executions.entries()) {
    const begun = await ledger.begin({
      key,
      underwritingId: uw,
      sourceMessageId: key,
      documents: ['doc_001'],
    });
    if (begun.state !== 'claimed') throw new Error('expected a claim');
    for (const o of outcomes) begun.claim.record(o, { reused: false, queueWait: 0.25 });
    await begun.claim.published(result(uw, status, `2024-01-15T10:0${i}:00.000Z`), `out-${key}`);
  }
  return ledger;
}

describe('the operations read model', () => {
  function api(history = createMemoryLedger().history, statsCacheMs = 60_000) {
    const published: { event: UnderwritingCreated; attributes: Record<string, string> }[] = [];
    let inFlight = 2;
    const opsApi = createOpsApi({
      history,
      publishRerun: (event, attributes) => {
        published.push({ event, attributes });
        return Promise.resolve('msg-1');
      },
      inFlight: () => inFlight,
      limits: { statsCacheMs },
    });
    return { opsApi, published, setInFlight: (n: number) => (inFlight = n) };
  }
  const operator = { email: 'bob@example.com', role: 'operator' } as const;

  it('shows an underwriting in the view shape, and 404s one the ledger does not have', async () => {
    const { opsApi } = api((await ledgerWithThree()).history);
    const view = UnderwritingViewSchema.parse(await opsApi.underwriting('uw_b'));
    expect(view.executions[0]?.processors.map((p) => [p.processor_id, p.status])).toEqual([
      ['p1', 'completed'],
      ['p2', 'failed'],
    ]);
    await expect(opsApi.underwriting('uw_none')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    ExecutionPageSchema.parse(await opsApi.executions({ limit: 50 }));
  });

  it('publishes a re-run of the failed processors keyed by a fresh ULID, reusing the rest', async () => {
    const { opsApi, published } = api((await ledgerWithThree()).history);
    const { key } = await opsApi.rerun('uw_b', { processors: 'failed', reason: 'vendor back' }, operator);
    expect(published).toEqual([
      {
        event: {
          event: 'underwriting.created',
          data: {
            underwriting_id: 'uw_b',
            documents: ['doc_001'],
            purchased_processors: ['p1', 'p2'],
            event_id: key,
            rerun: { of: 'k-b', processors: ['p2'], requested_by: 'bob@example.com', reason: 'vendor back' },
          },
        },
        attributes: { rerun_of: 'k-b', underwriting_id: 'uw_b' },
      },
    ]);
    await expect(opsApi.rerun('uw_a', { processors: 'failed', reason: 'x' }, operator)).rejects.toMatchObject(
      {
        code: 'RERUN_REFUSED',
      },
    );
    await expect(opsApi.rerun('uw_a', { processors: ['p9'], reason: 'x' }, operator)).rejects.toMatchObject({
      code: 'REQUEST_INVALID',
    });
    expect(published).toHaveLength(1);
  });

  it('says why with LEDGER=none', async () => {
    const opsApi = createOpsApi({
      history: undefined,
      publishRerun: () => Promise.resolve(''),
      inFlight: () => 0,
    });
    const err = await opsApi.stats('1h').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OrchestratorError);
    expect((err as OrchestratorError).code).toBe('OPS_UNAVAILABLE');
  });

  it('serves stats from its cache within the cache time, with the live in-flight count', async () => {
    const ledger = await ledgerWithThree();
    const { opsApi, setInFlight } = api(ledger.history);
    // The window is the last hour: these executions completed in 2024.
    const first = StatsViewSchema.parse(await opsApi.stats('24h'));
    expect(first.sample).toMatchObject({ executions: 0, limit: 1000, truncated: false });
    setInFlight(5);
    const second = await opsApi.stats('24h');
    expect(second.sample.as_of).toBe(first.sample.as_of);
    expect(second.in_flight).toBe(5);
  });
});

describe('stats', () => {
  const record = (runs: Partial<ExecutionRecord['runs'][number]>[]): ExecutionRecord =>
    ({
      runs: runs.map((r) => ({ reused: false, status: 'completed', executionTime: 1, ...r })),
    }) as ExecutionRecord;

  it('computes rates and nearest-rank percentiles per processor, leaving reused outcomes and runs not called out', () => {
    const records = [
      record([
        { processorId: 'a', executionTime: 1 },
        { processorId: 'b', status: 'failed', executionTime: 9 },
      ]),
      record([
        { processorId: 'a', executionTime: 3 },
        { processorId: 'b', reused: true },
      ]),
      record([{ processorId: 'a', status: 'timeout', executionTime: 10 }]),
      record([
        { processorId: 'a', executionTime: 2 },
        { processorId: 'b', status: 'failed', errorCode: 'PROCESSOR_PAUSED', executionTime: 0 },
        { processorId: 'b', status: 'failed', errorCode: 'PROCESSOR_CIRCUIT_OPEN', executionTime: 0 },
      ]),
    ];
    const stats = statsOf('1h', records, true, 4, Date.parse('2024-01-15T10:00:00Z'));
    expect(stats).toEqual({
      window: '1h',
      sample: { executions: 4, limit: 4, truncated: true, as_of: '2024-01-15T10:00:00.000Z' },
      in_flight: 0,
      processors: [
        {
          processor_id: 'a',
          runs: 4,
          skipped: 0,
          completed_rate: 0.75,
          failed_rate: 0,
          timeout_rate: 0.25,
          p50_run_time: 2,
          p95_run_time: 10,
        },
        {
          processor_id: 'b',
          runs: 1,
          skipped: 2,
          completed_rate: 0,
          failed_rate: 1,
          timeout_rate: 0,
          p50_run_time: 9,
          p95_run_time: 9,
        },
      ],
    });
    expect(percentile([], 0.5)).toBeNull();
  });
});
