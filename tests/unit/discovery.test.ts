import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { discoverProcessors, pluginFiles } from '../../src/processors/discovery.js';
import { fixtureProcessorsDir } from '../helpers/fixtures.js';

const plugin = (id: string, extra = '') =>
  `export default { id: '${id}', version: '1.0.0', ${extra} execute() { return { factors: {} }; } };\n`;

/** A processors directory holding `files` (relative path → source). */
async function processorsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'processors-'));
  for (const [path, source] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), source);
  }
  return dir;
}

describe('processor discovery', () => {
  it('finds NAME/index.js, NAME/index.mjs, NAME.js and NAME.mjs, and ignores example* and _*', async () => {
    const dir = await processorsDir({
      'alpha/index.js': plugin('alpha_v1', 'timeoutMs: 1234,'),
      'beta/index.mjs': plugin('beta_v1'),
      'gamma.js': plugin('gamma_v1'),
      'delta.mjs': plugin('delta_v1'),
      'example_one/index.js': 'throw new Error("never imported");',
      'example.js': 'throw new Error("never imported");',
      '_private.mjs': 'throw new Error("never imported");',
      'notes.md': '# not a plugin',
      'types.d.ts': 'export {};',
      'empty/readme.txt': 'no index here',
      'package.json': '{"type":"module"}',
    });
    const installed = await discoverProcessors(dir);
    expect([...installed.keys()]).toEqual(['alpha_v1', 'beta_v1', 'delta_v1', 'gamma_v1']);
    expect(installed.get('alpha_v1')).toEqual({
      id: 'alpha_v1',
      version: '1.0.0',
      timeoutMs: 1234,
      file: join(dir, 'alpha', 'index.js'),
    });
    expect(installed.get('beta_v1')?.timeoutMs).toBeUndefined();
  });

  it('lists the fixture processors, plain JavaScript objects without the SDK', async () => {
    const files = await pluginFiles(fixtureProcessorsDir);
    expect(files.every((f) => /fx_[a-z_]+\.mjs$/.test(f))).toBe(true);
    expect((await discoverProcessors(fixtureProcessorsDir)).size).toBe(files.length);
  });

  it.each([
    ['no default export', 'export const x = 1;', 'the default export is not a processor definition'],
    ['a bad id', plugin('Bad-Id'), 'id: a processor id is lower-case letters, digits and underscores'],
    ['no execute', "export default { id: 'x_v1', version: '1' };", 'execute: execute must be a function'],
    ['no version', "export default { id: 'x_v1', execute() {} };", 'version: '],
    ['a bad timeout', plugin('x_v1', 'timeoutMs: -5,'), 'timeoutMs: '],
    [
      'a bad circuit',
      plugin('x_v1', 'circuit: { failureRate: 0, minRuns: 5, windowMs: 60000, openMs: 30000 },'),
      'circuit.failureRate: circuit.failureRate must be above 0',
    ],
    [
      'a circuit without its window',
      plugin('x_v1', 'circuit: { failureRate: 0.5, minRuns: 5, openMs: 30000 },'),
      'circuit.windowMs: ',
    ],
    ['a syntax error', 'export default {', 'cannot be loaded: '],
    ['a throwing module', 'throw new Error("init failed");', 'cannot be loaded: init failed'],
  ])('stops with one line naming the file when a plugin has %s', async (_case, source, problem) => {
    const dir = await processorsDir({ 'ok.js': plugin('ok_v1'), 'bad/index.js': source });
    const err = await discoverProcessors(dir).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('PROCESSOR_INVALID');
    expect(err?.message).toContain(join('bad', 'index.js'));
    expect(err?.message).toContain(problem);
    expect(err?.message).not.toContain('\n');
  });

  it('stops on a duplicate id, naming both files', async () => {
    const dir = await processorsDir({ 'one.js': plugin('same_v1'), 'two.mjs': plugin('same_v1') });
    const rejection = expect(discoverProcessors(dir)).rejects;
    await rejection.toMatchObject({ code: 'PROCESSOR_DUPLICATE' });
    await rejection.toThrow(/two\.mjs: processor id "same_v1" is already declared by .*one\.js$/);
  });

  it('says which directory it cannot read', async () => {
    const rejection = expect(discoverProcessors('/nonexistent/processors')).rejects;
    await rejection.toMatchObject({ code: 'PROCESSORS_DIR_UNREADABLE' });
    await rejection.toThrow(/^PROCESSORS_DIR: \/nonexistent\/processors does not exist$/);
  });
});
