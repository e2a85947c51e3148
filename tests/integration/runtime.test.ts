import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import type { UnderwritingCreated } from '../../src/events/index.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { fixtureProcessorsDir, silentLog } from '../helpers/fixtures.js';

const event = (id: string, purchased: string[]): UnderwritingCreated => ({
  event: 'underwriting.created',
  data: { underwriting_id: id, documents: ['doc_1'], purchased_processors: purchased },
});

describe('one runtime across events', () => {
  let runtime: Runtime;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runtime-'));
    await writeFile(join(dir, 'doc_1.json'), JSON.stringify({ document_id: 'doc_1', document_type: 't' }));
    const config = loadConfig({
      PROCESSORS_DIR: fixtureProcessorsDir,
      DOCUMENTS_DIR: dir,
      PROCESSOR_THREADS: '2',
      PROCESSOR_MAX_HEAP_MB: '64',
      LOG_LEVEL: 'silent',
    });
    runtime = await startRuntime(config, silentLog);
  });
  afterAll(async () => {
    await runtime.close();
  });

  // fx_heap fills a 64 MB heap: seconds, a minute on a machine loaded far beyond its cores.
  it(
    'stays healthy for the next event after one whose processors throw, exit, spin and leak',
    { timeout: 300_000 },
    async () => {
      const hostile = [
        'fx_throw',
        'fx_exit',
        'fx_spin',
        'fx_heap',
        'fx_late_throw',
        'fx_stray_throw',
        'fx_signal',
      ];
      const first = await runtime.orchestrator.process(event('uw_hostile', hostile), {
        sourceMessageId: 'm1',
      });
      expect(first.summary).toMatchObject({ completed_count: 1, failed_count: 4, timeout_count: 2 });

      const second = await runtime.orchestrator.process(
        event('uw_next', ['fx_ok', 'fx_slow', 'fx_late_throw']),
        {
          sourceMessageId: 'm2',
        },
      );
      expect(second.overall_status).toBe('success');
      expect(second.completed_processors.map((p) => p.processor_id)).toEqual([
        'fx_ok',
        'fx_slow',
        'fx_late_throw',
      ]);
    },
  );

  it('runs processors of concurrent events side by side without mixing their inputs', async () => {
    const results = await Promise.all(
      ['uw_a', 'uw_b', 'uw_c', 'uw_d'].map((id) =>
        runtime.orchestrator.process(event(id, ['fx_ok']), { sourceMessageId: id }),
      ),
    );
    for (const result of results) {
      expect(result.completed_processors[0]?.factors).toMatchObject({
        underwriting_id: result.underwriting_id,
      });
    }
  });
});
