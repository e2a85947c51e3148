import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ProcessorPool, type ProcessorRun } from '../../src/processors/pool.js';
import { encodeInput } from '../../src/processors/run.js';
import { fixture, silentLog } from '../helpers/fixtures.js';

const input = encodeInput({ documents: [], missingDocuments: [] });
const task = (name: string, timeoutMs: number): ProcessorRun => ({
  file: fixture(name),
  processorId: `fx_${name}`,
  underwritingId: 'uw_1',
  timeoutMs,
  input,
});

/** One process spinning on every core, and one more: every thread here competes for the CPU. */
function startHogs(): ChildProcess[] {
  return Array.from({ length: availableParallelism() + 1 }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
}

describe('deadlines with every core saturated by other processes', () => {
  let hogs: ChildProcess[] = [];
  let pool: ProcessorPool;

  beforeAll(async () => {
    hogs = startHogs();
    pool = new ProcessorPool({
      minThreads: 2,
      maxThreads: 4,
      maxHeapMb: 64,
      timeoutGraceMs: 1_000,
      logLevel: 'silent',
      log: silentLog,
    });
    await pool.warm();
  });
  afterAll(async () => {
    for (const hog of hogs) hog.kill('SIGKILL');
    await pool.close();
  });

  it('keeps the thread of a processor that honours ctx.signal, and terminates a busy loop, every time', async () => {
    for (let i = 0; i < 10; i++) {
      const [signal, spin] = await Promise.all([pool.run(task('signal', 150)), pool.run(task('spin', 150))]);
      expect(signal).toMatchObject({ status: 'timeout', timeout_phase: 'signal', attempts: 1 });
      expect(spin).toMatchObject({ status: 'timeout', timeout_phase: 'terminated', attempts: 1 });
    }
  }, 60_000);
});
