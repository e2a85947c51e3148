import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ProcessorPool, type ProcessorRun } from '../../src/processors/pool.js';
import { encodeInput } from '../../src/processors/run.js';
import { fixture, silentLog } from '../helpers/fixtures.js';

describe("an event's documents on one worker thread", () => {
  let pool: ProcessorPool;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'po-inputs-'));
    pool = new ProcessorPool({
      minThreads: 1,
      maxThreads: 1,
      maxHeapMb: 64,
      timeoutGraceMs: 1_000,
      logLevel: 'silent',
      log: silentLog,
    });
    await pool.warm();
  });
  afterAll(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("are each run's own while the event's other runs on the thread hold them", async () => {
    const readFile = join(dir, 'read');
    const gateFile = join(dir, 'gate');
    const documents = [
      {
        document_id: 'doc_1',
        document_type: 'bank_statement',
        metadata: { read_file: readFile, gate_file: gateFile },
      },
      { document_id: 'doc_2', document_type: 'tax_return', metadata: { nested: { list: [1, 2] } } },
    ];
    const given = JSON.stringify({ documents, missing: ['doc_3'] });
    // One encoding of the event, as the orchestrator makes it, for every run.
    const input = encodeInput({ documents, missingDocuments: ['doc_3'] });
    const run = (name: string): ProcessorRun => ({
      file: fixture(name),
      processorId: `fx_${name}`,
      underwritingId: 'uw_inputs',
      timeoutMs: 30_000,
      input,
    });

    // One thread: the looker reads the documents and holds them while two runs change theirs.
    const looking = pool.run(run('look'));
    await expect.poll(() => existsSync(readFile), { timeout: 20_000 }).toBe(true);
    const first = await pool.run(run('mutate'));
    const second = await pool.run(run('mutate'));
    writeFileSync(gateFile, '');
    const look = await looking;

    for (const outcome of [first, second]) {
      expect(outcome).toMatchObject({ status: 'completed', factors: { given } });
      // It did change its own documents.
      expect(outcome.status === 'completed' && JSON.parse(outcome.factors['after'] as string)).toHaveLength(
        3,
      );
    }
    expect(look).toMatchObject({
      status: 'completed',
      factors: { at_start: JSON.stringify(documents), at_end: JSON.stringify(documents) },
    });
    expect(pool.stats().threads).toBe(1);
  });
});
