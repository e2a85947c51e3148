import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';

import { cli, onlyFatal } from '../helpers/cli.js';
import { repoRoot } from '../helpers/fixtures.js';

const run = promisify(execFile);
const nodeModules = join(repoRoot, 'node_modules');

/**
 * A checkout laid out as this one (a fork, say): the SDK and kit packages in its node_modules
 * (here, linked to this repository's built packages), with vitest, TypeScript and tsx beside them.
 * tests/integration/packages.test.ts installs the packed packages instead.
 */
function authorRepository(): string {
  const root = mkdtempSync(join(tmpdir(), 'author-'));
  writeFileSync(
    join(root, 'package.json'),
    JSON.stringify({ name: 'acme-processors', type: 'module', private: true }),
  );
  mkdirSync(join(root, 'node_modules', '@processor-orchestrator'), { recursive: true });
  for (const pkg of ['sdk', 'testing'])
    symlinkSync(
      join(repoRoot, 'packages', pkg),
      join(root, 'node_modules', '@processor-orchestrator', pkg),
      'dir',
    );
  for (const dep of ['vitest', 'typescript', 'tsx', '@types'])
    symlinkSync(join(nodeModules, dep), join(root, 'node_modules', dep), 'dir');
  return root;
}

describe('new-processor', () => {
  const roots: string[] = [];
  afterAll(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

  it('scaffolds a processor that passes its test through the kit, builds, and is listed, with no other edit', async () => {
    const root = authorRepository();
    roots.push(root);
    const created = await cli(['new-processor', 'acme_score_v1'], {}, 30_000, root);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(
      'Created processors/acme_score_v1/index.ts and processors/acme_score_v1/index.test.ts.',
    );

    // Its test, as the author runs it.
    const tested = await run(
      process.execPath,
      [join(nodeModules, 'vitest', 'vitest.mjs'), 'run', '--root', root],
      { cwd: root },
    );
    expect(tested.stdout).toMatch(/1 passed/);

    // Built as a plugin, and discovered from PROCESSORS_DIR.
    await run(
      process.execPath,
      [
        join(nodeModules, 'typescript', 'bin', 'tsc'),
        '--outDir',
        join(root, 'dist'),
        '--rootDir',
        root,
        '--module',
        'NodeNext',
        '--moduleResolution',
        'NodeNext',
        '--target',
        'ES2023',
        '--strict',
        '--skipLibCheck',
        join(root, 'processors', 'acme_score_v1', 'index.ts'),
      ],
      { cwd: root },
    );
    const listed = await cli(['processors'], { PROCESSORS_DIR: join(root, 'dist', 'processors') });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /^acme_score_v1\s+0\.1\.0\s+1\.0\.0\s+30000 ms\s+.*acme_score_v1\/index\.js$/m,
    );
  }, 60_000);

  it('refuses a name that is not a processor id, and a processor that exists', async () => {
    const root = mkdtempSync(join(tmpdir(), 'author-'));
    roots.push(root);
    for (const bad of ['Acme', 'a', 'acme-score', '../escape', '1acme']) {
      const res = await cli(['new-processor', bad], {}, 30_000, root);
      expect({ bad, code: res.code }).toEqual({ bad, code: 2 });
      expect(res.stderr).toMatch(/is not a processor id/);
    }
    expect((await cli(['new-processor', 'acme_v1'], {}, 30_000, root)).code).toBe(0);
    const before = readFileSync(join(root, 'processors', 'acme_v1', 'index.ts'), 'utf8');
    const again = await cli(['new-processor', 'acme_v1'], {}, 30_000, root);
    expect(again.code).toBe(2);
    expect(onlyFatal(again.stderr)).toMatchObject({
      code: 'USAGE',
      message: 'new-processor: processors/acme_v1 exists already',
    });
    expect(readFileSync(join(root, 'processors', 'acme_v1', 'index.ts'), 'utf8')).toBe(before);
  });

  it('refuses a name that discovery ignores, since that processor would never be listed or run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'author-'));
    roots.push(root);
    for (const ignored of ['example_x', 'examples_v1', '_x_v1']) {
      const res = await cli(['new-processor', ignored], {}, 30_000, root);
      expect({ ignored, code: res.code }).toEqual({ ignored, code: 2 });
      expect(onlyFatal(res.stderr)).toMatchObject({
        code: 'USAGE',
        message: `new-processor: "${ignored}" would never be discovered: names starting with "example" or "_" are ignored; choose another`,
      });
      expect(existsSync(join(root, 'processors', ignored))).toBe(false);
    }
  });

  it('--package refuses a folder whose name is not a package name, and one that is not empty', async () => {
    const root = mkdtempSync(join(tmpdir(), 'author-'));
    roots.push(root);
    const badName = await cli(['new-processor', 'acme_v1', '--package', 'Acme Fraud'], {}, 30_000, root);
    expect(badName.code).toBe(2);
    expect(onlyFatal(badName.stderr)).toMatchObject({
      code: 'USAGE',
      message: `new-processor: --package ${join(root, 'Acme Fraud')}: the package is named after its folder, and "Acme Fraud" is not an npm package name (lower-case letters, digits, -._~)`,
    });
    mkdirSync(join(root, 'taken'));
    writeFileSync(join(root, 'taken', 'notes.txt'), 'mine');
    const taken = await cli(['new-processor', 'acme_v1', '--package', 'taken'], {}, 30_000, root);
    expect(taken.code).toBe(2);
    expect(onlyFatal(taken.stderr).message).toBe(
      `new-processor: --package ${join(root, 'taken')} exists already and is not empty`,
    );
    expect(readFileSync(join(root, 'taken', 'notes.txt'), 'utf8')).toBe('mine');
    const created = await cli(['new-processor', 'acme_v1', '--package', 'acme-v1'], {}, 30_000, root);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`Created the processor package acme-v1 in ${join(root, 'acme-v1')}`);
  });
});
