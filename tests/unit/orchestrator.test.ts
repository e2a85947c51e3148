import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it, vi } from 'vitest';

import type { DocumentSource } from '../../src/documents/source.js';
import { OrchestratorError } from '../../src/errors.js';
import { ProcessingCompletedSchema, type UnderwritingCreated } from '../../src/events/index.js';
import { createOrchestrator, group } from '../../src/orchestrator.js';
import type { InstalledProcessor } from '../../src/processors/discovery.js';
import type { ProcessorRun } from '../../src/processors/pool.js';
import { parseDocument, type Document } from '../../src/events/document.js';
import { decodeInput, type EncodedInput, type RunOutcome } from '../../src/processors/run.js';
import { ULID, silentLog } from '../helpers/fixtures.js';

const installed = (id: string, timeoutMs?: number): [string, InstalledProcessor] => [
  id,
  { id, version: '1.0.0', timeoutMs, concurrency: undefined, retry: undefined, file: `/plugins/${id}.js` },
];

const text = (document: Document) => ({
  id: document.document_id,
  json: Buffer.from(JSON.stringify(document)),
});
const decode = (input: EncodedInput) => decodeInput(input, parseDocument).input;

const documents: DocumentSource = {
  fetch: (ids) =>
    Promise.resolve({
      documents: ids
        .filter((id) => id !== 'doc_gone')
        .map((id) => text({ document_id: id, document_type: 't', metadata: {} })),
      missing: ids.filter((id) => id === 'doc_gone').map((id) => ({ id, reason: 'not found' })),
    }),
};

/** A pool that answers each processor id with a scripted outcome and records the runs. */
type Scripted = RunOutcome extends infer O
  ? O extends RunOutcome
    ? Omit<O, 'processor_id' | 'execution_id' | 'attempts'>
    : never
  : never;

function scriptedPool(script: Record<string, Scripted>) {
  const runs: ProcessorRun[] = [];
  return {
    runs,
    run: (run: ProcessorRun): Promise<RunOutcome> => {
      runs.push(run);
      const outcome = script[run.processorId] ?? { status: 'completed', factors: {}, execution_time: 0.001 };
      return Promise.resolve({
        processor_id: run.processorId,
        execution_id: '01J0000000000000000000000A',
        attempts: 1,
        ...outcome,
      });
    },
  };
}

const event = (data: Partial<UnderwritingCreated['data']> = {}): UnderwritingCreated => ({
  event: 'underwriting.created',
  data: { underwriting_id: 'uw_1', documents: ['doc_1', 'doc_gone'], ...data },
});

describe('orchestrator', () => {
  it('holds no fetched document while the runs last: only their encoding', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const fetched: WeakRef<object>[] = [];
    const source: DocumentSource = {
      fetch: (ids) => {
        const batch = {
          documents: ids.map((id) => text({ document_id: id, document_type: 't', metadata: {} })),
          missing: [],
        };
        fetched.push(...batch.documents.map((d) => new WeakRef(d.json)));
        return Promise.resolve(batch);
      },
    };
    let finish = () => {};
    const ran = new Promise<void>((resolve) => (finish = resolve));
    const runs: ProcessorRun[] = [];
    const pool = {
      run: async (run: ProcessorRun): Promise<RunOutcome> => {
        runs.push(run);
        await ran;
        const outcome = { processor_id: run.processorId, execution_id: '01J0000000000000000000000A' };
        return { ...outcome, status: 'completed', factors: {}, execution_time: 0.001, attempts: 1 };
      },
    };
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1')]),
      documents: source,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    const result = orchestrator.process(event({ documents: ['doc_1', 'doc_2'] }), { sourceMessageId: 'm1' });
    await expect.poll(() => runs.length).toBe(1);
    // A WeakRef holds its target until the current job ends: collect from a later one.
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(fetched.map((d) => d.deref() === undefined)).toEqual([true, true]);
    expect(decode(runs[0]!.input).documents.map((d) => d.document_id)).toEqual(['doc_1', 'doc_2']);
    finish();
    expect((await result).overall_status).toBe('success');
  });

  it('runs every purchased processor once, groups the outcomes and summarises them', async () => {
    const pool = scriptedPool({
      a_v1: { status: 'completed', factors: { score: 1 }, execution_time: 45.2 },
      b_v1: { status: 'failed', error_message: 'External API timeout', execution_time: 0.3 },
      c_v1: { status: 'timeout', timeout_ms: 180_000, timeout_phase: 'terminated', execution_time: 180 },
    });
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1'), installed('b_v1', 5000), installed('c_v1', 180_000)]),
      documents,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    const result = await orchestrator.process(event(), {
      sourceMessageId: 'm1',
      receivedAt: performance.now() - 2000,
    });

    expect(ProcessingCompletedSchema.parse(result)).toEqual(result);
    expect(result).toMatchObject({
      event: 'processing.completed',
      underwriting_id: 'uw_1',
      overall_status: 'partial_success',
      summary: { total_processors: 3, completed_count: 1, failed_count: 1, timeout_count: 1 },
      completed_processors: [
        { processor_id: 'a_v1', execution_time: 45.2, attempts: 1, factors: { score: 1 } },
      ],
      failed_processors: [
        { processor_id: 'b_v1', execution_time: 0.3, attempts: 1, error_message: 'External API timeout' },
      ],
      timeout_processors: [
        {
          processor_id: 'c_v1',
          execution_time: 180,
          attempts: 1,
          timeout_ms: 180_000,
          timeout_phase: 'terminated',
        },
      ],
    });
    expect(result.summary.total_execution_time).toBeGreaterThanOrEqual(2);
    expect(Date.parse(result.completed_at)).toBeGreaterThan(Date.now() - 5000);
    // Deadlines: the plugin's own, else the default; one shared input with documents and missing ids.
    expect(pool.runs.map((r) => r.timeoutMs)).toEqual([1000, 5000, 180_000]);
    expect(new Set(pool.runs.map((r) => r.input)).size).toBe(1);
    expect(pool.runs[0] && decode(pool.runs[0].input)).toEqual({
      documents: [{ document_id: 'doc_1', document_type: 't', metadata: {} }],
      missingDocuments: ['doc_gone'],
    });
  });

  it('tells its admission ticket what the event holds once the pool has every run, before any is over', async () => {
    const pool = scriptedPool({});
    const plans: unknown[] = [];
    let settled = 0;
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1'), installed('b_v1'), installed('c_v1')]),
      documents,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    await orchestrator.process(event({ purchased_processors: ['a_v1', 'b_v1', 'c_v1', 'gone_v1'] }), {
      sourceMessageId: 'm',
      onOutcome: () => settled++,
      ticket: { started: (plan) => plans.push({ ...plan, runsAsked: pool.runs.length, settled }) },
    });
    // The uninstalled processor is no run: it holds nothing.
    expect(plans).toEqual([
      {
        inputBytes: pool.runs[0]?.input.shared.byteLength,
        processorIds: ['a_v1', 'b_v1', 'c_v1'],
        runsAsked: 3,
        settled: 0,
      },
    ]);
  });

  it('waits on the abort signal its events share with one listener, and rejects them all when it aborts', async () => {
    const held: (() => void)[] = [];
    const pool = {
      run: (run: ProcessorRun) =>
        new Promise<RunOutcome>((resolve) =>
          held.push(() =>
            resolve({
              status: 'completed',
              processor_id: run.processorId,
              execution_id: '01J0000000000000000000000A',
              attempts: 1,
              factors: {},
              execution_time: 0.001,
            }),
          ),
        ),
    };
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1')]),
      documents,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    const shutdown = new AbortController();
    const events = Array.from({ length: 50 }, (_, i) =>
      orchestrator.process(event({ underwriting_id: `uw_${i}` }), {
        sourceMessageId: `m${i}`,
        signal: shutdown.signal,
      }),
    );
    await vi.waitFor(() => expect(held).toHaveLength(50));
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);

    held[0]?.();
    await expect(events[0]).resolves.toMatchObject({ underwriting_id: 'uw_0', overall_status: 'success' });
    const reason = new Error('shutting down');
    shutdown.abort(reason);
    const settled = await Promise.allSettled(events.slice(1));
    expect(settled.every((s) => s.status === 'rejected' && s.reason === reason)).toBe(true);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });

  it('reports a purchased but uninstalled processor as failed, with an execution id', async () => {
    const orchestrator = createOrchestrator({
      pool: scriptedPool({}),
      processors: new Map([installed('a_v1')]),
      documents,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    const result = await orchestrator.process(event({ purchased_processors: ['a_v1', 'ghost_v2'] }), {
      sourceMessageId: 'm',
    });
    expect(result.overall_status).toBe('partial_success');
    expect(result.failed_processors).toEqual([
      {
        processor_id: 'ghost_v2',
        execution_id: result.failed_processors[0]?.execution_id,
        execution_time: 0,
        attempts: 0,
        error_message: 'processor not installed',
        error_code: 'PROCESSOR_NOT_INSTALLED',
      },
    ]);
    expect(result.failed_processors[0]?.execution_id).toMatch(ULID);
  });

  it('resolves purchases from the organization when the event has no list', async () => {
    const pool = scriptedPool({});
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1'), installed('b_v1')]),
      documents,
      purchases: new Map([['org_42', ['b_v1']]]),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    const result = await orchestrator.process(event({ organization_id: 'org_42' }), { sourceMessageId: 'm' });
    expect(pool.runs.map((r) => r.processorId)).toEqual(['b_v1']);
    expect(result.overall_status).toBe('success');
  });

  it('lets a document source failure through, retryable, without running anything', async () => {
    const pool = scriptedPool({});
    const down: DocumentSource = {
      fetch: () => Promise.reject(new OrchestratorError('DOCUMENT_SOURCE_UNAVAILABLE', 'down')),
    };
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1')]),
      documents: down,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    await expect(orchestrator.process(event(), { sourceMessageId: 'm' })).rejects.toMatchObject({
      retryable: true,
    });
    expect(pool.runs).toEqual([]);
  });
});

describe('orchestrator with the ledger’s earlier outcomes', () => {
  it('reuses a recorded COMPLETED entry, reruns the others and counts their attempts on from the record', async () => {
    const pool = scriptedPool({
      b_v1: { status: 'failed', error_message: 'still down', execution_time: 0.2 },
    });
    const recordedDone: RunOutcome = {
      status: 'completed',
      processor_id: 'a_v1',
      execution_id: '01J000000000000000000000AA',
      execution_time: 3,
      attempts: 1,
      factors: { score: 7 },
    };
    const recordedFailed: RunOutcome = {
      status: 'failed',
      processor_id: 'b_v1',
      execution_id: '01J000000000000000000000BB',
      execution_time: 0.1,
      attempts: 2,
      error_message: 'down',
    };
    const settled: RunOutcome[] = [];
    const orchestrator = createOrchestrator({
      pool,
      processors: new Map([installed('a_v1'), installed('b_v1')]),
      documents,
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log: silentLog,
    });
    const result = await orchestrator.process(event({ purchased_processors: ['a_v1', 'b_v1'] }), {
      sourceMessageId: 'm',
      recorded: new Map<string, RunOutcome>([
        ['a_v1', recordedDone],
        ['b_v1', recordedFailed],
      ]),
      onOutcome: (o, facts) => settled.push({ ...o, reused: facts.reused } as unknown as RunOutcome),
    });
    expect(pool.runs.map((r) => r.processorId)).toEqual(['b_v1']);
    expect(result.completed_processors).toEqual([
      {
        processor_id: 'a_v1',
        execution_id: '01J000000000000000000000AA',
        execution_time: 3,
        attempts: 1,
        factors: { score: 7 },
      },
    ]);
    expect(result.failed_processors).toMatchObject([
      { processor_id: 'b_v1', attempts: 3, error_message: 'still down' },
    ]);
    // The reused one is reported too, marked so; the one that ran, with its attempts counted on.
    expect(settled).toMatchObject([
      { processor_id: 'a_v1', reused: true },
      { processor_id: 'b_v1', attempts: 3, reused: false },
    ]);
  });
});

describe('overall status', () => {
  const outcome = (status: 'completed' | 'failed'): RunOutcome =>
    status === 'completed'
      ? { processor_id: 'a', execution_id: 'x', execution_time: 0, attempts: 1, status, factors: {} }
      : { processor_id: 'a', execution_id: 'x', execution_time: 0, attempts: 1, status, error_message: 'e' };

  it.each([
    [['completed', 'completed'], 'success'],
    [['completed', 'failed'], 'partial_success'],
    [['failed', 'failed'], 'failed'],
    [[], 'failed'],
  ] as const)('is %j → %s', (statuses, expected) => {
    expect(group('uw', statuses.map(outcome), 0).overall_status).toBe(expected);
  });
});
