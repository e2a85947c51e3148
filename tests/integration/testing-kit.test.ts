import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { describe, expect, it } from 'vitest';

import { CONTRACT_VERSION, defineProcessor } from '@processor-orchestrator/sdk';
import { runProcessor } from '@processor-orchestrator/testing';

import processor from '../fixtures/kit/defined.js';
import several from '../fixtures/kit/several.js';
import { hidden } from '../fixtures/kit/unexported.js';
import { fixture, repoRoot, ULID } from '../helpers/fixtures.js';

const fixturePath = (path: string) => join(repoRoot, 'tests', 'fixtures', path);

const doc = { document_id: 'doc_1', document_type: 'bank_statement', metadata: {} };

describe('runProcessor (@processor-orchestrator/testing), through a real pool thread', () => {
  it('runs a TypeScript processor made with defineProcessor and returns the entry production publishes', async () => {
    const result = await runProcessor(processor, {
      documents: [doc],
      missingDocuments: ['doc_2'],
      underwritingId: 'uw_kit',
    });
    expect(result).toEqual({
      status: 'completed',
      processor_id: 'kit_defined',
      execution_id: expect.stringMatching(ULID) as string,
      execution_time: expect.any(Number) as number,
      attempts: 1,
      factors: { types: ['bank_statement'], missing: ['doc_2'], underwriting_id: 'uw_kit' },
    });
  });

  it('runs the processor it is given among those a module declares in an array', async () => {
    expect(await runProcessor(several[1]!)).toMatchObject({
      status: 'completed',
      processor_id: 'kit_second',
      factors: { which: 'second' },
    });
    await expect(runProcessor(fixturePath('kit/several.ts'))).rejects.toThrow(
      /^runProcessor: tests\/fixtures\/kit\/several\.ts declares 2 processors; pass the definition to run$/,
    );
  });

  it('refuses, as the service does, a processor built for another major contract version', async () => {
    await expect(runProcessor(fixturePath('kit/next_major.mjs'))).rejects.toThrow(
      `tests/fixtures/kit/next_major.mjs: processor kit_next_major 3.1.0 is built for plugin contract 99.0.0, but this service implements ${CONTRACT_VERSION}`,
    );
  });

  it('takes the path or file URL of a module too', async () => {
    expect((await runProcessor(fixture('ok'))).status).toBe('completed');
    expect((await runProcessor(pathToFileURL(fixture('ok')))).status).toBe('completed');
  });

  it('reports what production reports for a processor that throws, exits or returns a bad result', async () => {
    expect(await runProcessor(fixture('throw'))).toMatchObject({
      status: 'failed',
      processor_id: 'fx_throw',
    });
    expect(await runProcessor(fixture('exit'))).toMatchObject({
      status: 'failed',
      error_message: 'the processor ended its worker thread with process.exit(3)',
    });
    expect(await runProcessor(fixture('bad_result'))).toMatchObject({ status: 'failed' });
  });

  it('ends a processor that honours ctx.signal in the signal phase, at its deadline', async () => {
    const result = await runProcessor(fixture('signal'), { timeoutMs: 150 });
    expect(result).toMatchObject({ status: 'timeout', timeout_ms: 150, timeout_phase: 'signal' });
    if (result.status === 'timeout') expect(result.execution_time).toBeLessThan(0.4);
  });

  it('terminates a processor that ignores ctx.signal after the grace', async () => {
    const result = await runProcessor(fixture('ignore_signal'), { timeoutMs: 100, graceMs: 300 });
    expect(result).toMatchObject({ status: 'timeout', timeout_ms: 100, timeout_phase: 'terminated' });
    expect(result.execution_time).toBeGreaterThanOrEqual(0.4);
  });

  it('terminates a busy loop at once, whatever the grace', async () => {
    const result = await runProcessor(fixture('spin'), { timeoutMs: 100, graceMs: 5_000 });
    expect(result).toMatchObject({ status: 'timeout', timeout_phase: 'terminated' });
    expect(result.execution_time).toBeLessThan(1);
  });

  it('refuses what it cannot run, saying why', async () => {
    const loose = defineProcessor({ id: 'loose', version: '1', execute: () => ({ factors: {} }) });
    // Declared here, so it is not the default export of a module the thread could load.
    await expect(runProcessor(loose)).rejects.toThrow(
      /^runProcessor: loose is declared in a test file \(tests\/integration\/testing-kit\.test\.ts\); declare it as the default export of its own module/,
    );
    await expect(
      runProcessor({ id: 'plain', version: '1', execute: () => ({ factors: {} }) }),
    ).rejects.toThrow(
      /cannot tell which module declares plain: create it with defineProcessor, or pass the module's path/,
    );
    await expect(runProcessor(hidden)).rejects.toThrow(
      /^runProcessor: kit_hidden is not declared by the default export of tests\/fixtures\/kit\/unexported\.ts \(kit_shown is\)$/,
    );
    await expect(runProcessor(processor, { documents: [{ document_id: 'x' } as never] })).rejects.toThrow(
      /document_type/,
    );
  });
});

describe('the public entries', () => {
  it('export only what authors use', async () => {
    expect(Object.keys(await import('@processor-orchestrator/sdk')).sort()).toEqual([
      'CONTRACT_VERSION',
      'RetryableError',
      'defineProcessor',
    ]);
    expect(Object.keys(await import('@processor-orchestrator/testing')).sort()).toEqual(['runProcessor']);
  });
});
