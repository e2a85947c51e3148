import { afterEach, describe, expect, it } from 'vitest';

import { createThreadPool, type ThreadPool } from '../../src/processors/piscina-adapter.js';

const file = new URL('../fixtures/thread-pool/worker.mjs', import.meta.url).pathname;

type Ticket = { id: number };
const pools: ThreadPool<{ ms: number }, number, Ticket>[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

describe('the thread pool (Piscina behind the adapter), through real threads', () => {
  it('starts a thread only when placement asks for one, however many tasks come while it starts', async () => {
    // Placement as the scheduler's: every task to the first thread, and a helper task refused
    // once when a thread is wanted.
    let wantThread = false;
    let started = 0;
    const pool = createThreadPool<{ ms: number }, number, Ticket>({
      file,
      minThreads: 1,
      maxThreads: 6,
      idleTimeoutMs: 60_000,
      maxHeapMb: 64,
      execArgv: [],
      workerData: undefined,
      place: (ticket, threads) => {
        if (ticket === null && wantThread) {
          wantThread = false;
          return null;
        }
        return threads[0] ?? null;
      },
      threadReady: () => started++,
      threadGone: () => {},
      threadFailed: () => {},
    });
    pools.push(pool);
    await pool.hold();
    expect(started).toBe(1);

    wantThread = true;
    const second = pool.hold();
    // While the second thread starts, a burst of tasks the first thread takes.
    const never = { aborted: false, onAbort: () => {} };
    const ran = await Promise.all(Array.from({ length: 40 }, (_, id) => pool.run({ ms: 20 }, { id }, never)));
    await second;
    expect(new Set(ran).size).toBe(1);
    expect(started).toBe(2);
    expect(pool.threads()).toHaveLength(2);
  });
});
