import { it } from 'vitest';
import { ProcessorPool } from '../src/processors/pool.js';
import { encodeInput } from '../src/processors/run.js';
import { fixture, silentLog } from './helpers/fixtures.js';
const input = encodeInput({ documents: [], missingDocuments: [] });
const task = (name: string, timeoutMs = 5000) => ({ file: fixture(name), processorId: `fx_${name}`, underwritingId: 'u', timeoutMs, input });
it('dbg', async () => {
  const pool = new ProcessorPool({ minThreads: 2, maxThreads: 16, maxHeapMb: 64, timeoutGraceMs: 1000, logLevel: 'silent', log: silentLog });
  await pool.warm();
  const names = ['throw', 'exit', 'spin', 'heap', 'late_throw', 'stray_throw', 'signal'];
  const done = new Set<string>();
  const t0 = Date.now();
  const iv = setInterval(() => console.log(Date.now() - t0, 'pending', names.filter((n) => !done.has(n)), JSON.stringify(pool.stats())), 500);
  await Promise.all(names.map((n) => pool.run(task(n, n === 'spin' ? 300 : n === 'signal' ? 200 : 20000)).then((o) => { done.add(n); console.log(Date.now() - t0, n, o.status, o.attempts); })));
  clearInterval(iv);
  await pool.close();
}, 60000);
