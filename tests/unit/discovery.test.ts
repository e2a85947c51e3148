import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { CONTRACT_VERSION } from '@processor-orchestrator/sdk';
import { describe, expect, it } from 'vitest';

import { discoverProcessors, loadModule, pluginFiles } from '../../src/processors/discovery.js';
import type { ResolveSpecifier } from '../../src/processors/packages.js';
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
    [
      'no default export',
      'export const x = 1;',
      'has no default export; it must default-export a processor definition',
    ],
    ['an empty array', 'export default [];', 'its default export is an empty array'],
    [
      'a bad contract version',
      plugin('x_v1', "contractVersion: 'one',"),
      'contractVersion must be a semantic version',
    ],
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

  it('names the TypeScript source of a built plugin that fails to load, where its source map shows it', async () => {
    const dir = await processorsDir({
      'processors/broken_v1/index.ts': 'export default { id: "broken_v1",\n',
      'dist/processors/broken_v1/index.js': 'throw new Error("init failed");\n',
      'dist/processors/broken_v1/index.js.map': JSON.stringify({
        version: 3,
        file: 'index.js',
        sourceRoot: '',
        sources: ['../../../processors/broken_v1/index.ts'],
        mappings: '',
      }),
      'dist/processors/plain_v1/index.js': 'export const nothing = 1;\n',
    });
    const built = join(dir, 'dist', 'processors');
    const err = await discoverProcessors(built).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(
      `${relative(process.cwd(), join(dir, 'processors', 'broken_v1', 'index.ts'))} (built as ${relative(process.cwd(), join(built, 'broken_v1', 'index.js'))}): cannot be loaded: init failed`,
    );
    // Without a map the module's own path is the name.
    await rm(join(dir, 'dist', 'processors', 'broken_v1'), { recursive: true });
    const unmapped = await discoverProcessors(built).catch((e: Error) => e);
    expect((unmapped as Error).message).toMatch(/^\S*plain_v1\/index\.js: has no default export/);
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

  it('loads every processor of a module whose default export is an array, naming the bad element', async () => {
    const dir = await processorsDir({
      'pair/index.js': `export default [${plugin('one_v1').slice(15, -2)}, ${plugin('two_v1').slice(15, -2)}];\n`,
      'bad.js': `export default [${plugin('three_v1').slice(15, -2)}, { id: 'four_v1' }];\n`,
    });
    const err = await discoverProcessors(dir).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err).toMatchObject({ code: 'PROCESSOR_INVALID' });
    expect(err?.message).toMatch(
      /bad\.js: element 1 of the default export is not a processor definition \(version: /,
    );
    const processors = await loadModule(join(dir, 'pair', 'index.js'));
    expect(processors.map((p) => p.id)).toEqual(['one_v1', 'two_v1']);
  });

  it('refuses a processor built for another major contract version, with one line naming it and both versions', async () => {
    const next = `${Number(CONTRACT_VERSION.split('.')[0]) + 1}.0.0`;
    const dir = await processorsDir({ 'next/index.js': plugin('next_v1', `contractVersion: '${next}',`) });
    const rejection = expect(discoverProcessors(dir)).rejects;
    await rejection.toMatchObject({ code: 'PROCESSOR_CONTRACT_MISMATCH' });
    await rejection.toThrow(
      new RegExp(
        `next/index\\.js: processor next_v1 1\\.0\\.0 is built for plugin contract ${next.replaceAll('.', '\\.')}, but this service implements ${CONTRACT_VERSION.replaceAll('.', '\\.')} and runs processors built for \\d+\\.x; rebuild it with @processor-orchestrator/sdk \\d+\\.x$`,
      ),
    );
  });

  it('loads a processor built for a newer minor version, or one that does not say', async () => {
    const [major = '', minor = ''] = CONTRACT_VERSION.split('.');
    const newer = `${major}.${Number(minor) + 1}.0`;
    const dir = await processorsDir({
      'newer.js': plugin('newer_v1', `contractVersion: '${newer}',`),
      'plain.js': plugin('plain_v1'),
    });
    const installed = await discoverProcessors(dir);
    expect(installed.get('newer_v1')?.contractVersion).toBe(newer);
    expect(installed.get('plain_v1')?.contractVersion).toBeUndefined();
  });
});

describe('processor packages (PROCESSOR_PACKAGES)', () => {
  /** Installed packages: name → [version, entry source]; a resolver that finds them as Node would. */
  async function installed(packages: Record<string, [string, string]>): Promise<ResolveSpecifier> {
    const root = await mkdtemp(join(tmpdir(), 'installed-'));
    const entries = new Map<string, string>();
    for (const [name, [version, source]] of Object.entries(packages)) {
      const dir = join(root, 'node_modules', name);
      await mkdir(join(dir, 'dist'), { recursive: true });
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version, type: 'module' }));
      // A nested package.json without a name is not the package's manifest.
      await writeFile(join(dir, 'dist', 'package.json'), '{"type":"module"}');
      await writeFile(join(dir, 'dist', 'index.js'), source);
      entries.set(name, pathToFileURL(join(dir, 'dist', 'index.js')).href);
    }
    return (name) => {
      const url = entries.get(name);
      if (url === undefined) {
        throw Object.assign(new Error(`Cannot find package '${name}' imported from /srv/service`), {
          code: 'ERR_MODULE_NOT_FOUND',
        });
      }
      return url;
    };
  }

  it('loads one processor or several from each package, after the folder, and says where each came from', async () => {
    const dir = await processorsDir({ 'local.js': plugin('local_v1') });
    const resolve = await installed({
      '@acme/fraud-score': ['2.1.0', plugin('fraud_score_v1')],
      'acme-kyb': [
        '0.3.0',
        `export default [${plugin('kyb_a_v1').slice(15, -2)}, ${plugin('kyb_b_v1').slice(15, -2)}];`,
      ],
    });
    const found = await discoverProcessors({ dir, packages: ['@acme/fraud-score', 'acme-kyb'] }, resolve);
    expect([...found.keys()]).toEqual(['local_v1', 'fraud_score_v1', 'kyb_a_v1', 'kyb_b_v1']);
    expect(found.get('fraud_score_v1')).toMatchObject({
      package: { name: '@acme/fraud-score', version: '2.1.0' },
    });
    expect(found.get('kyb_b_v1')?.package).toEqual({ name: 'acme-kyb', version: '0.3.0' });
    expect(found.get('local_v1')?.package).toBeUndefined();
  });

  it.each([
    [
      'is not installed',
      { packages: ['@acme/missing'], folder: false },
      'CONFIG_INVALID',
      /^PROCESSOR_PACKAGES: @acme\/missing: Cannot find package '@acme\/missing'/,
    ],
    [
      'has no processor',
      { packages: ['acme-empty'], folder: false },
      'PROCESSOR_INVALID',
      /^acme-empty@1\.0\.0: has no default export/,
    ],
    [
      'fails to load',
      { packages: ['acme-broken'], folder: false },
      'PROCESSOR_INVALID',
      /^acme-broken@1\.0\.0: cannot be loaded: init failed$/,
    ],
    [
      'repeats an id of the folder',
      { packages: ['acme-dup'], folder: true },
      'PROCESSOR_DUPLICATE',
      /^acme-dup@1\.0\.0: processor id "local_v1" is already declared by .*local\.js$/,
    ],
  ])('stops start-up with one line when a package %s', async (_case, { packages, folder }, code, line) => {
    const resolve = await installed({
      'acme-empty': ['1.0.0', 'export const helper = 1;'],
      'acme-broken': ['1.0.0', 'throw new Error("init failed");'],
      'acme-dup': ['1.0.0', plugin('local_v1')],
    });
    const dir = folder ? await processorsDir({ 'local.js': plugin('local_v1') }) : undefined;
    const err = await discoverProcessors({ dir, packages }, resolve).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe(code);
    expect(err?.message).toMatch(line);
    expect(err?.message).not.toContain('\n');
  });
});
