import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ProcessorPool, type ProcessorRun } from '../../src/processors/pool.js';
import { encodeInput, type RunOutcome } from '../../src/processors/run.js';
import { ULID, fixture, silentLog } from '../helpers/fixtures.js';

const input = encodeInput({
  documents: [{ document_id: 'doc_1', document_type: 'bank_statement', metadata: {} }],
  missingDocuments: ['doc_2'],
});

/**
 * An event's input of 6 MB: a thread holding it has most of what a thread with a 64 MB heap may
 * hold. Each call is another event's (the runs of one event on a thread share one parse).
 */
const largeInput = () =>
  encodeInput({
    documents: [
      {
        document_id: 'doc_1',
        document_type: 'bank_statement',
        metadata: {},
        content: 'x'.repeat(6 * 2 ** 20),
      },
    ],
    missingDocuments: [],
  });

function task(name: string, timeoutMs = 5_000): ProcessorRun {
  return { file: fixture(name), processorId: `fx_${name}`, underwritingId: 'uw_1', timeoutMs, input };
}

/**
 * How many worker threads were started while `body` ran and after it: once `expected` have (a
 * replacement starts a while after the run it replaces has ended, later on a loaded machine), or
 * when none is expected, 100 ms after.
 */
async function threadsSpawnedDuring(body: () => Promise<void>, expected: number): Promise<number> {
  let spawned = 0;
  const count = () => spawned++;
  process.on('worker', count);
  try {
    await body();
    if (expected === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    else await expect.poll(() => spawned, { timeout: 10_000 }).toBeGreaterThanOrEqual(expected);
  } finally {
    process.off('worker', count);
  }
  return spawned;
}

/**
 * The grace a run gets after `ctx.signal` aborts: long, so that "terminated at once" and
 * "terminated after the grace" stay apart on a machine whose timers fire late.
 */
const GRACE_MS = 1_000;

describe('ProcessorPool, through real worker threads', () => {
  let pool: ProcessorPool;

  beforeAll(async () => {
    pool = new ProcessorPool({
      minThreads: 2,
      maxThreads: 2,
      maxHeapMb: 64,
      timeoutGraceMs: GRACE_MS,
      logLevel: 'silent',
      log: silentLog,
    });
    await pool.warm();
  });
  afterAll(async () => {
    await pool.close();
  });

  it('completes a processor with its factors and passes it the dispatch ULID as ctx.executionId', async () => {
    const outcome = await pool.run(task('ok'));
    expect(outcome.status).toBe('completed');
    expect(outcome.execution_id).toMatch(ULID);
    expect(outcome).toMatchObject({
      processor_id: 'fx_ok',
      factors: {
        documents: ['doc_1'],
        missing: ['doc_2'],
        execution_id: outcome.execution_id,
        underwriting_id: 'uw_1',
      },
    });
  });

  it('mints a distinct execution id for every run', async () => {
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => pool.run(task('ok'))));
    expect(new Set(outcomes.map((o) => o.execution_id)).size).toBe(4);
  });

  it.each([
    ['throw', 'statement parser exploded'],
    ['reject', 'TypeError: upstream returned nonsense'],
    ['exit', 'the processor ended its worker thread with process.exit(3)'],
    ['heap', 'the processor ran out of memory (worker heap limit 64 MB)'],
    ['not_cloneable', 'factors.compute is a function, not a JSON value'],
    ['bad_result', 'the result must be { factors: {...} }, got { score }'],
    ['stray_throw', 'RangeError: thrown from a callback during the run'],
  ])(
    'reports a processor that does "%s" as failed with a useful message',
    // Each ends by itself, but not soon on a machine loaded far beyond its cores (filling a 64 MB
    // heap, or the pool hearing of an exited thread, can take a minute): no deadline binds them.
    { timeout: 300_000 },
    async (name, message) => {
      const outcome = await pool.run(task(name, 600_000));
      expect(outcome).toMatchObject({ status: 'failed', error_message: message, processor_id: `fx_${name}` });
      expect(outcome.execution_id).toMatch(ULID);
    },
  );

  it('marks a busy-looping processor as timeout soon after its deadline and replaces its thread', async () => {
    const outcome = await pool.run(task('spin', 300));
    expect(outcome).toMatchObject({ status: 'timeout', timeout_ms: 300, timeout_phase: 'terminated' });
    // Its event loop is blocked, so no grace: it is terminated at the deadline, not after the grace.
    expect(outcome.execution_time * 1000).toBeGreaterThanOrEqual(300);
    expect(outcome.execution_time * 1000).toBeLessThan(300 + GRACE_MS);
    // The pool is whole again: two runs at once still complete.
    const after = await Promise.all([pool.run(task('ok')), pool.run(task('ok'))]);
    expect(after.map((o) => o.status)).toEqual(['completed', 'completed']);
  });

  it('marks a processor that gives up on ctx.signal as timeout, and keeps its thread', async () => {
    const spawned = threadsSpawnedDuring(async () => {
      const outcome = await pool.run(task('signal', 150));
      expect(outcome).toMatchObject({ status: 'timeout', timeout_ms: 150, timeout_phase: 'signal' });
      // It settled itself, within the grace.
      expect(outcome.execution_time * 1000).toBeGreaterThanOrEqual(149);
      expect(outcome.execution_time * 1000).toBeLessThan(150 + GRACE_MS);
    }, 0);
    expect(await spawned).toBe(0);
  });

  it('terminates a processor that ignores ctx.signal once the grace has passed', async () => {
    const spawned = threadsSpawnedDuring(async () => {
      const outcome = await pool.run(task('ignore_signal', 100));
      expect(outcome).toMatchObject({ status: 'timeout', timeout_ms: 100, timeout_phase: 'terminated' });
      // The 100 ms deadline, then the whole grace, and then at once (it would never settle itself).
      expect(outcome.execution_time * 1000).toBeGreaterThanOrEqual(100 + GRACE_MS);
      expect(outcome.execution_time * 1000).toBeLessThan(100 + 2 * GRACE_MS);
    }, 1);
    expect(await spawned).toBe(1);
  });

  it('leaves other processors untouched when one times out beside them', async () => {
    const [spin, slow] = await Promise.all([pool.run(task('spin', 100)), pool.run(task('slow', 2_000))]);
    expect(spin.status).toBe('timeout');
    expect(slow).toMatchObject({ status: 'completed', factors: { slept_ms: 300 } });
  });

  it('counts only run time against the deadline: eight slow runs on two threads all complete', async () => {
    // One run a thread, two threads: each run's input takes most of what a 64 MB thread may hold,
    // so a thread takes one at a time. Each takes 300 ms of a 600 ms deadline and the last ones
    // wait ~900 ms in the queue first. A spinner queued behind them (1.2 s and more) still times
    // out 200 ms after it started rather than at once.
    const narrow = new ProcessorPool({
      minThreads: 2,
      maxThreads: 2,
      maxHeapMb: 64,
      timeoutGraceMs: 300,
      logLevel: 'silent',
      log: silentLog,
    });
    try {
      await narrow.warm();
      // Once read as computing, the spinner needs a thread of its own, so it queues behind them.
      expect(await narrow.run(task('spin', 200))).toMatchObject({ status: 'timeout' });
      const started = performance.now();
      const outcomes = await Promise.all([
        ...Array.from({ length: 8 }, () => narrow.run({ ...task('slow', 600), input: largeInput() })),
        narrow.run(task('spin', 200)),
      ]);
      const spin = outcomes.pop();
      expect(performance.now() - started).toBeGreaterThan(1_300);
      expect(outcomes.map((o) => o.status)).toEqual(Array(8).fill('completed'));
      for (const o of outcomes) expect(o.execution_time * 1000).toBeLessThan(600);
      expect(spin).toMatchObject({ status: 'timeout', timeout_ms: 200 });
      // Its 1.2 s and more in the queue are not in its time (a loaded machine ends it late, not that late).
      expect((spin?.execution_time ?? 0) * 1000).toBeLessThan(1_200);
    } finally {
      await narrow.close();
    }
  });

  it('does not fail the next task of a thread when a finished processor throws later', async () => {
    // Both threads get a late thrower; its timer throws 50 ms and rejects 60 ms after it returned.
    const late = await Promise.all([pool.run(task('late_throw')), pool.run(task('late_throw'))]);
    expect(late.map((o) => o.status)).toEqual(['completed', 'completed']);
    const next: RunOutcome[] = await Promise.all(
      Array.from({ length: 6 }, () => pool.run(task('slow', 2_000))),
    );
    expect(next.map((o) => o.status)).toEqual(Array(6).fill('completed'));
  });

  it('fails a run whose plugin file cannot be loaded, and keeps going', async () => {
    const outcome = await pool.run({ ...task('ok'), file: fixture('does_not_exist') });
    expect(outcome.status).toBe('failed');
    expect(outcome).toHaveProperty('error_message');
    expect((outcome as { error_message: string }).error_message).toMatch(/fx_does_not_exist\.mjs/);
    expect((await pool.run(task('ok'))).status).toBe('completed');
  });
});
