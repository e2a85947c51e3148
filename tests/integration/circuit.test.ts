// The circuit breaker through the real orchestrator, pool and worker threads: it opens after the
// configured failures (each run counted once, retries included), fails fast while open without
// calling the processor, lets exactly one trial through after openMs, and closes when it completes.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import { examplesDir } from '../../src/paths.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { capturingLog, repoRoot } from '../helpers/fixtures.js';
import { until } from '../helpers/ops-service.js';

let runtime: Runtime;
let dir: string;
const { log, lines } = capturingLog();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'circuit-'));
  process.env['FX_VENDOR_DIR'] = dir;
  const config = loadConfig({
    PROCESSORS_DIR: join(repoRoot, 'tests', 'fixtures', 'circuit-processors'),
    DOCUMENTS_DIR: `${examplesDir}/documents`,
    PROCESSOR_THREADS: '2',
  });
  runtime = await startRuntime(config, log);
}, 60_000);

afterAll(async () => {
  await runtime?.close();
  delete process.env['FX_VENDOR_DIR'];
  await rm(dir, { recursive: true, force: true });
});

let events = 0;
function processOne(): Promise<ProcessingCompleted> {
  events += 1;
  return runtime.orchestrator.process(
    { event: 'underwriting.created', data: { underwriting_id: `uw_${events}`, documents: ['doc_001'] } },
    { sourceMessageId: `m${events}` },
  );
}

const calls = async () =>
  (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
const circuit = () => runtime.guard.circuits().find((c) => c.processor_id === 'fx_vendor');
const entry = (result: ProcessingCompleted) => result.failed_processors[0];

describe('the circuit breaker of a processor', { timeout: 120_000 }, () => {
  it('opens after the configured failures, fails fast while open, lets one trial through, and closes', async () => {
    await writeFile(join(dir, 'down'), '');
    // Two failed runs of two attempts each: four calls, but two runs, under minRuns (3).
    for (let i = 0; i < 2; i += 1)
      expect(entry(await processOne())).toMatchObject({ error_code: 'PROCESSOR_FAILED', attempts: 2 });
    expect(circuit()).toMatchObject({ state: 'closed', runs: 2, failures: 2 });
    expect(entry(await processOne())).toMatchObject({
      error_code: 'PROCESSOR_FAILED',
      error_message: 'vendor answered 503',
    });
    expect(circuit()).toMatchObject({ state: 'open', runs: 3, failures: 3 });
    expect(await calls()).toBe(6);

    // Open: fails at once, the processor is not called.
    const fast = await processOne();
    expect(entry(fast)).toMatchObject({
      error_code: 'PROCESSOR_CIRCUIT_OPEN',
      attempts: 0,
      execution_time: 0,
    });
    expect(entry(fast)?.error_message).toMatch(
      /^not called: circuit open since \S+ \(3 of 3 runs failed or timed out\); the next trial run is at \S+$/,
    );
    expect(await calls()).toBe(6);

    // The vendor is back; after openMs the next run is the one trial. It is held while it runs, and
    // every other run meanwhile fails at once.
    await rm(join(dir, 'down'));
    await writeFile(join(dir, 'hold'), '');
    await sleep(Math.max(0, Date.parse(circuit()?.until ?? '') - Date.now()) + 20);
    const trial = processOne();
    await until(
      'the trial to call the vendor',
      async () => ((await calls()) === 7 ? true : undefined),
      30_000,
    );
    expect(circuit()?.state).toBe('half_open');
    const during = await processOne();
    expect(entry(during)).toMatchObject({ error_code: 'PROCESSOR_CIRCUIT_OPEN' });
    expect(entry(during)?.error_message).toContain('its one trial run is in progress');
    await rm(join(dir, 'hold'));
    expect((await trial).overall_status).toBe('success');
    expect(circuit()).toMatchObject({ state: 'closed', runs: 0 });
    expect(await calls()).toBe(7);

    // Closed: called again.
    expect((await processOne()).overall_status).toBe('success');
    expect(await calls()).toBe(8);
    const changes = lines
      .filter((l) => String(l['message']).startsWith('circuit'))
      .map((l) => [l['message'], l['circuit_state']]);
    expect(changes).toEqual([
      ['circuit opened', 'open'],
      ['circuit half-open: one trial run is let through', 'half_open'],
      ['circuit closed: the trial run completed', 'closed'],
    ]);
    expect(lines.find((l) => l['message'] === 'circuit opened')).toMatchObject({
      processor_id: 'fx_vendor',
      runs: 3,
      failures: 3,
      window_ms: 60_000,
    });
  });

  it('opens again when the trial fails', async () => {
    await writeFile(join(dir, 'down'), '');
    for (let i = 0; i < 3; i += 1) await processOne();
    expect(circuit()?.state).toBe('open');
    await sleep(Math.max(0, Date.parse(circuit()?.until ?? '') - Date.now()) + 20);
    const trial = await processOne();
    expect(entry(trial)).toMatchObject({ error_code: 'PROCESSOR_FAILED' });
    expect(circuit()).toMatchObject({ state: 'open', runs: 1, failures: 1 });
    expect(entry(await processOne())?.error_message).toContain('(the trial run failed)');
    expect(lines.some((l) => l['message'] === 'circuit opened again: the trial run failed')).toBe(true);
    await rm(join(dir, 'down'));
  });
});
