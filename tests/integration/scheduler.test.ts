import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { loadProcessor } from '../../src/processors/discovery.js';
import { ProcessorPool, type PoolOptions, type ProcessorRun } from '../../src/processors/pool.js';
import { encodeInput, type RunOutcome } from '../../src/processors/run.js';
import { fixture, silentLog } from '../helpers/fixtures.js';
import { maxOverlap } from '../helpers/intervals.js';

const pools: ProcessorPool[] = [];

async function startPool(options: Partial<PoolOptions> = {}): Promise<ProcessorPool> {
  const pool = new ProcessorPool({
    minThreads: 2,
    maxThreads: 8,
    cpuSlots: 2,
    maxHeapMb: 64,
    timeoutGraceMs: 500,
    logLevel: 'silent',
    log: silentLog,
    ...options,
  });
  pools.push(pool);
  await pool.warm();
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

/** A run of fixture `fx_NAME`, with its policies, given `metadata` in its first document. */
async function run(name: string, metadata: Record<string, unknown> = {}): Promise<ProcessorRun> {
  const installed = await loadProcessor(fixture(name));
  return {
    file: installed.file,
    processorId: installed.id,
    underwritingId: 'uw_1',
    timeoutMs: installed.timeoutMs ?? 5_000,
    input: encodeInput({
      documents: [{ document_id: 'doc_1', document_type: 'bank_statement', metadata }],
      missingDocuments: [],
    }),
    concurrency: installed.concurrency,
    retry: installed.retry,
  };
}

type Interval = { started: number; ended: number };

function interval(o: RunOutcome): Interval {
  if (o.status !== 'completed') throw new Error(`${o.processor_id} did not complete: ${JSON.stringify(o)}`);
  return o.factors as Interval;
}

async function runsFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'runs-')), 'runs.log');
}

async function countRuns(file: string): Promise<number> {
  return (await readFile(file, 'utf8')).trim().split('\n').length;
}

function countLines(file: string): number {
  return readFileSync(file, 'utf8').trim().split('\n').length;
}

describe('the scheduler, through real worker threads', () => {
  it(
    'starts every run that waits on I/O at once, hundreds a thread, in the first event already',
    // On a machine loaded many times over, 300 starts take a while; nothing here waits on time.
    { timeout: 180_000 },
    async () => {
      const pool = await startPool({ minThreads: 2 });
      // Nothing learnt yet: the first run of fx_io is read on a thread, and the others join it. Each
      // waits at a gate the test opens once it has seen all 300 start: they complete only if they
      // could all run at once.
      const startedFile = await runsFile();
      const gate = `${startedFile}.go`;
      const io = await run('io', { wait_ms: 50, started_file: startedFile, gate_file: gate });
      const runs = Array.from({ length: 300 }, () => pool.run({ ...io, timeoutMs: 170_000 }));
      await until(() => existsSync(startedFile) && countLines(startedFile) === 300);
      await writeFile(gate, 'go');
      const outcomes = await Promise.all(runs);
      expect(maxOverlap(outcomes.map(interval))).toBe(300);
      // Runs that wait are cheap: no thread was started for them.
      expect(pool.stats().threads).toBe(2);
    },
  );

  it("bounds a thread's runs by the memory they hold, not by a count: large inputs spread over threads", async () => {
    const pool = await startPool({ minThreads: 1, maxThreads: 8, maxHeapMb: 64 });
    // Six events: each event's input is held at about 3 × 4 MB on a thread; a thread's runs may
    // hold half its 64 MB heap.
    const pad = 'x'.repeat(4 * 2 ** 20);
    const events = await Promise.all(Array.from({ length: 6 }, () => run('io', { wait_ms: 2_000, pad })));
    await learnt(pool, await run('io', { wait_ms: 5 }), 'io');
    const runs = events.map((io) => pool.run(io));
    // Once all six are placed, no thread hosts more than two.
    await until(() => pool.stats().runsPerThread.reduce((a, b) => a + b, 0) === 6);
    expect(Math.max(...pool.stats().runsPerThread)).toBe(2);
    expect(pool.stats().threads).toBeGreaterThanOrEqual(3);
    expect((await Promise.all(runs)).map((o) => o.status)).toEqual(Array(6).fill('completed'));
  });

  it("puts one event's waiting runs on one thread: they share its parse of the documents", async () => {
    const pool = await startPool({ minThreads: 1, maxThreads: 8, maxHeapMb: 64 });
    // Counted per run, a thread could take two of these; it holds the event's input once.
    const io = await run('io', { wait_ms: 2_000, pad: 'x'.repeat(4 * 2 ** 20) });
    await learnt(pool, await run('io', { wait_ms: 5 }), 'io');
    const runs = Array.from({ length: 6 }, () => pool.run(io));
    await until(() => pool.stats().runsPerThread.reduce((a, b) => a + b, 0) === 6);
    expect(pool.stats().runsPerThread[0]).toBe(6);
    expect((await Promise.all(runs)).map((o) => o.status)).toEqual(Array(6).fill('completed'));
  });

  it(
    'learns what a processor does, not its thread decoding the documents: one that reads large ones and returns at once is short',
    { timeout: 120_000 },
    async () => {
      const pool = await startPool({ maxHeapMb: 256 });
      const ok = await run('ok');
      // Each run is another event's: its thread decodes 16 MB of documents for it, longer than the
      // 10 ms of a busy loop that reads a run as computing (and makes a short run long).
      const event = (): ProcessorRun => ({
        ...ok,
        input: encodeInput({
          documents: [
            {
              document_id: 'doc_1',
              document_type: 'bank_statement',
              metadata: {},
              content: 'x'.repeat(16 * 2 ** 20),
            },
          ],
          missingDocuments: [],
        }),
      });
      // Three runs in a row that end at once make a processor short; a machine busy enough to keep
      // one off the CPU for 10 ms starts the count again.
      for (let i = 0; i < 12 && pool.stats().kinds['fx_ok'] !== 'short'; i++) {
        expect((await pool.run(event())).status).toBe('completed');
      }
      expect(pool.stats().kinds).toMatchObject({ fx_ok: 'short' });
    },
  );

  it.runIf(process.platform === 'linux')(
    'keeps a short processor short when its runs are held off the CPU: it learns from their CPU time',
    async () => {
      const pool = await startPool();
      await learnt(pool, await run('sync_wait', { wait_ms: 0 }), 'short');
      // Each run now blocks its thread for 30 ms and returns: 30 ms of wall time, as a machine too
      // busy to run a 2 ms processor makes it, and next to no CPU time of its own.
      const held = await run('sync_wait', { wait_ms: 30 });
      for (let i = 0; i < 5; i++) {
        const outcome = await pool.run(held);
        expect(outcome).toMatchObject({ status: 'completed' });
        expect(outcome.execution_time).toBeGreaterThanOrEqual(0.029);
      }
      expect(pool.stats().kinds).toMatchObject({ fx_sync_wait: 'short' });
    },
  );

  it('runs a short run of an event with large documents on the thread that parsed them for its waiting runs', async () => {
    const pool = await startPool({ minThreads: 2, maxThreads: 8, maxHeapMb: 128 });
    const wait = await run('thread_wait', { wait_ms: 20 });
    const now = await run('thread_now');
    await learnt(pool, wait, 'io');
    await learnt(pool, now, 'short');
    const large = encodeInput({
      documents: [
        {
          document_id: 'doc_1',
          document_type: 'bank_statement',
          metadata: { wait_ms: 300 },
          content: 'x'.repeat(2 ** 20),
        },
      ],
      missingDocuments: [],
    });
    // Asked as the orchestrator may ask them, the short run first: it still goes where the
    // waiting runs asked beside it are, rather than to a thread of short runs.
    const outcomes = await Promise.all([now, wait, wait].map((r) => pool.run({ ...r, input: large })));
    const threads = outcomes.map((o) => (o.status === 'completed' ? o.factors['thread'] : o.status));
    expect(new Set(threads).size).toBe(1);
  });

  it('runs work that computes about one per CPU slot, never more', async () => {
    const pool = await startPool({ cpuSlots: 2 });
    const cpu = await run('cpu', { work: 4_000_000 });
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => pool.run(cpu)));
    expect(maxOverlap(outcomes.map(interval))).toBe(2);
    expect(pool.stats().kinds).toMatchObject({ fx_cpu: 'cpu' });
  });

  it('starts runs known to wait while every CPU slot computes', async () => {
    const pool = await startPool({ cpuSlots: 1 });
    await learnt(pool, await run('io', { wait_ms: 50 }), 'io');
    const cpu = await run('cpu', { work: 6_000_000 });
    const cpuRuns = Array.from({ length: 4 }, () => pool.run(cpu));
    // Once the first computation holds the only CPU slot, the waiting runs still start.
    await until(() => pool.stats().cpuSaturation >= 1);
    const io = await run('io', { wait_ms: 50 });
    const ioRuns = await Promise.all(Array.from({ length: 3 }, () => pool.run(io)));
    const cpuIntervals = (await Promise.all(cpuRuns)).map(interval);
    const lastCpuStart = Math.max(...cpuIntervals.map((i) => i.started));
    for (const i of ioRuns.map(interval)) expect(i.started).toBeLessThan(lastCpuStart);
    expect(maxOverlap(cpuIntervals)).toBe(1);
  });

  it('holds a concurrency key to its limit across every processor that names it', async () => {
    const pool = await startPool();
    const [a, b] = await Promise.all([run('limited_a'), run('limited_b')]);
    const outcomes = await Promise.all([
      ...Array.from({ length: 4 }, () => pool.run(a)),
      ...Array.from({ length: 3 }, () => pool.run(b)),
    ]);
    expect(maxOverlap(outcomes.map(interval))).toBe(2);
    // Waiting for the key is queue time: no run's own time reaches the next one's.
    for (const o of outcomes) expect(o.execution_time).toBeLessThan(1);
  });

  it('retries a retryable failure with backoff until it completes, counting the attempts', async () => {
    const pool = await startPool();
    const file = await runsFile();
    const outcome = await pool.run(await run('flaky', { runs_file: file, fail_times: 2 }));
    expect(outcome).toMatchObject({ status: 'completed', attempts: 3, factors: { run: 3 } });
    expect(await countRuns(file)).toBe(3);
  });

  it('stops retrying after the policy’s attempts, and never retries other errors or a TIMEOUT', async () => {
    const pool = await startPool();
    const [forever, plain, late] = await Promise.all([runsFile(), runsFile(), runsFile()]);
    const outcomes = await Promise.all([
      pool.run(await run('retry_forever', { runs_file: forever })),
      pool.run(await run('not_retryable', { runs_file: plain })),
      pool.run(await run('retry_timeout', { runs_file: late })),
    ]);
    expect(outcomes).toMatchObject([
      { status: 'failed', attempts: 3, error_message: 'still 429 (run 3)' },
      { status: 'failed', attempts: 1, error_message: 'the statement is not a PDF' },
      { status: 'timeout', attempts: 1, timeout_phase: 'signal' },
    ]);
    expect([await countRuns(forever), await countRuns(plain), await countRuns(late)]).toEqual([3, 1, 1]);
  });

  /**
   * One thread: `fx_turns` starts alone, is learnt as waiting, and three waiting runs (`fx_held`)
   * join its thread; once all three have started there, it turns bad. Their first attempt waits
   * until their thread is ended, so only a restart completes them. Resolves with its outcome and
   * theirs. Every step waits for a condition: the verdicts do not depend on how busy the machine is.
   */
  async function turnsBadBeside(then: string, restartedWaitMs: number) {
    const pool = await startPool({ minThreads: 1, maxThreads: 1, cpuSlots: 1 });
    await learnt(pool, await run('held', { runs_file: await runsFile(), hold: false, wait_ms: 50 }), 'io');
    const goFile = `${await runsFile()}.go`;
    // A busy loop ends at its deadline (long enough for the set-up before it); a leak or an exit
    // needs none (a leak takes seconds, a minute on a machine loaded far beyond its cores).
    const turns = await run('turns', { go_file: goFile, then });
    const bad = pool.run({ ...turns, timeoutMs: then === 'spin' ? 4_000 : 600_000 });
    await until(() => pool.stats().kinds['fx_turns'] === 'io');
    const heldFile = await runsFile();
    const held = await run('held', { runs_file: heldFile, wait_ms: restartedWaitMs });
    const waiting = Promise.all(Array.from({ length: 3 }, () => pool.run(held)));
    // One thread: the three started on fx_turns's.
    await until(() => existsSync(heldFile) && countLines(heldFile) === 3);
    await writeFile(goFile, 'go');
    return { bad: await bad, waiting: await waiting };
  }

  it(
    'restarts only the innocent runs of a thread ended for a busy loop, with the time they had left',
    // A thread ended, then started again: seconds, a minute when the machine is loaded far beyond its cores.
    { timeout: 300_000 },
    async () => {
      const { bad, waiting } = await turnsBadBeside('spin', 3_000);
      expect(bad).toMatchObject({ status: 'timeout', attempts: 1, timeout_phase: 'terminated' });
      for (const o of waiting) {
        expect(o).toMatchObject({ status: 'completed', attempts: 2 });
        // They ran until the spinner's deadline, then their whole 3 s.
        expect(o.execution_time).toBeGreaterThan(3);
      }
    },
  );

  it(
    'blames process.exit on the run that called it and restarts its neighbours',
    { timeout: 300_000 },
    async () => {
      const { bad, waiting } = await turnsBadBeside('exit', 100);
      expect(bad).toMatchObject({
        status: 'failed',
        attempts: 1,
        error_message: 'the processor ended its worker thread with process.exit(3)',
      });
      for (const o of waiting) expect(o).toMatchObject({ status: 'completed', attempts: 2 });
    },
  );

  it(
    'reruns alone every run of a thread whose shared heap ran out, and fails only the one that leaks',
    // Two leaks of a 64 MB heap (shared, then alone): each takes seconds, a minute under heavy load.
    { timeout: 600_000 },
    async () => {
      const { bad, waiting } = await turnsBadBeside('heap', 100);
      expect(bad).toMatchObject({
        status: 'failed',
        attempts: 2,
        error_message: 'the processor ran out of memory (worker heap limit 64 MB)',
      });
      for (const o of waiting) expect(o).toMatchObject({ status: 'completed', attempts: 2 });
    },
  );

  it('never puts a run known to compute beside another: a busy loop blames nobody else', async () => {
    const pool = await startPool({ minThreads: 1, maxThreads: 1, cpuSlots: 2 });
    await learnt(pool, await run('io', { wait_ms: 50 }), 'io');
    // Its first run, alone on the thread, teaches that fx_spin computes.
    expect(await pool.run(await run('spin'))).toMatchObject({ status: 'timeout' });
    expect(pool.stats().kinds).toMatchObject({ fx_io: 'io', fx_spin: 'cpu' });
    const [io, spin] = await Promise.all([
      pool.run(await run('io', { wait_ms: 200 })),
      pool.run(await run('spin')),
    ]);
    expect(io).toMatchObject({ status: 'completed', attempts: 1 });
    expect(spin).toMatchObject({ status: 'timeout', attempts: 1, timeout_phase: 'terminated' });
  });

  it('reads a processor never seen beside runs known to wait; if it busy-loops, they start again elsewhere', async () => {
    const pool = await startPool({ minThreads: 1, maxThreads: 1, cpuSlots: 2 });
    await pool.run(await run('io', { wait_ms: 5 }));
    // One thread, and it hosts a run known to wait: the unknown spinner is read beside it rather
    // than wait for a thread of its own, and the thread is ended at its deadline.
    const [io, spin] = await Promise.all([
      pool.run(await run('io', { wait_ms: 200 })),
      pool.run(await run('spin')),
    ]);
    expect(spin).toMatchObject({ status: 'timeout', attempts: 1, timeout_phase: 'terminated' });
    expect(io).toMatchObject({ status: 'completed', attempts: 2 });
    expect(pool.stats().kinds).toMatchObject({ fx_spin: 'cpu' });
  });

  it('feeds threads several runs of a processor whose runs end at once, yet a run on probation still gets its core', async () => {
    const pool = await startPool({ minThreads: 2, maxThreads: 2, cpuSlots: 2 });
    const brief = await run('ok');
    await learnt(pool, brief, 'short');
    // Eight callers keep a stream of brief runs in flight until the computing run is done: a stream
    // that kept both threads busy forever would starve it, and this test would never end.
    let computing = true;
    let briefRuns = 0;
    const stream = Array.from({ length: 8 }, async () => {
      while (computing) {
        expect(await pool.run(brief)).toMatchObject({ status: 'completed', attempts: 1 });
        briefRuns++;
      }
    });
    await until(() => briefRuns >= 50);
    const cpu = await pool.run(await run('cpu', { work: 3_000_000 }));
    computing = false;
    await Promise.all(stream);
    expect(cpu).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('puts a processor back on probation when one of its brief runs turns long', async () => {
    const pool = await startPool({ minThreads: 1, maxThreads: 1, cpuSlots: 1 });
    const brief = await run('cpu', { work: 10 });
    await learnt(pool, brief, 'short');
    await pool.run(await run('cpu', { work: 20_000_000 }));
    expect(pool.stats().kinds['fx_cpu']).not.toBe('short');
  });
});

/** Runs `run` until the pool has learnt its processor as `kind` (a loaded machine may take more runs). */
async function learnt(pool: ProcessorPool, run: ProcessorRun, kind: string): Promise<void> {
  for (let i = 0; i < 50 && pool.stats().kinds[run.processorId] !== kind; i++) {
    expect(await pool.run(run)).toMatchObject({ status: 'completed' });
  }
  expect(pool.stats().kinds).toMatchObject({ [run.processorId]: kind });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
