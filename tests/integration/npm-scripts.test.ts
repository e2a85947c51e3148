import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { runNode, withPortTaken } from '../helpers/cli.js';
import { repoRoot } from '../helpers/fixtures.js';

/** `node SCRIPT args` in `cwd`, as npm runs a package script there. */
const node = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  runNode(args, { cwd, env, timeoutMs: 120_000 });

const isExecutable = (file: string) => (statSync(file).mode & 0o111) !== 0;

/**
 * A small project built by the real scripts/build.js: `src/cli.ts` (the bin), `src/extra.ts`, and
 * a last good build in dist/ (its bin runnable) holding a file the sources no longer have.
 */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'build-'));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(join(repoRoot, 'scripts', 'build.js'), join(dir, 'scripts', 'build.js'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.build.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        target: 'ES2023',
        strict: true,
        rootDir: '.',
        outDir: 'dist',
        types: [],
        skipLibCheck: true,
      },
      include: ['src'],
    }),
  );
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'cli.ts'), "console.log('new build');\n");
  writeFileSync(join(dir, 'src', 'extra.ts'), 'export const extra = 1;\n');
  mkdirSync(join(dir, 'dist', 'src'), { recursive: true });
  writeFileSync(
    join(dir, 'dist', 'src', 'cli.js'),
    "#!/usr/bin/env node\nconsole.log('last good build');\n",
    {
      mode: 0o755,
    },
  );
  writeFileSync(join(dir, 'dist', 'src', 'removed.js'), '// its source was deleted\n');
  return dir;
}

// A compile (tsc's start-up, mostly) takes seconds, and far more on a loaded machine.
describe('npm run build (scripts/build.js)', { timeout: 180_000 }, () => {
  it('leaves the last good build and a runnable bin when the compile fails, and says so', async () => {
    const dir = project();
    writeFileSync(join(dir, 'src', 'extra.ts'), 'export const extra = {;\n');
    const { code, stdout, stderr } = await node(dir, ['scripts/build.js']);
    expect(code).toBe(1);
    // tsc names the source file; the script says what is left.
    expect(stdout).toContain('src/extra.ts');
    expect(stderr).toContain(
      'build failed (the errors above name the files): dist/ still holds the last good build',
    );
    const bin = join(dir, 'dist', 'src', 'cli.js');
    expect(readFileSync(bin, 'utf8')).toContain('last good build');
    expect(isExecutable(bin)).toBe(true);
    expect(existsSync(join(dir, 'dist', 'src', 'extra.js'))).toBe(false);
    expect(existsSync(join(dir, 'dist.next'))).toBe(false);
    expect((await node(dir, [bin])).stdout).toBe('last good build\n');
  });

  it('replaces dist/ whole after a clean compile, with a runnable bin and nothing stale', async () => {
    const dir = project();
    const { code, stderr } = await node(dir, ['scripts/build.js']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const bin = join(dir, 'dist', 'src', 'cli.js');
    expect(isExecutable(bin)).toBe(true);
    expect((await node(dir, [bin])).stdout).toBe('new build\n');
    expect(existsSync(join(dir, 'dist', 'src', 'extra.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist', 'src', 'removed.js'))).toBe(false);
    expect(existsSync(join(dir, 'dist.next')) || existsSync(join(dir, 'dist.old'))).toBe(false);
  });
});

/**
 * A checkout for scripts/start.js: the real script, a build that only notes it ran, and a "dev"
 * (dist/src/cli.js) that prints its arguments and exits with 3.
 */
function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'start-'));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(join(repoRoot, 'scripts', 'start.js'), join(dir, 'scripts', 'start.js'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(
    join(dir, 'scripts', 'build.js'),
    "import { writeFileSync } from 'node:fs';\nwriteFileSync('built', 'yes');\n",
  );
  mkdirSync(join(dir, 'dist', 'src'), { recursive: true });
  writeFileSync(
    join(dir, 'dist', 'src', 'cli.js'),
    'console.log(JSON.stringify(process.argv.slice(2)));\nprocess.exitCode = 3;\n',
  );
  return dir;
}

const LOCK = join('node_modules', '.cache', 'processor-orchestrator', 'npm-start.json');

describe('npm start (scripts/start.js)', { timeout: 60_000 }, () => {
  it('builds, then runs dev with the arguments given, and exits as dev does', async () => {
    const dir = checkout();
    const { code, stdout } = await node(dir, ['scripts/start.js', '--transport', 'both'], { PORT: '0' });
    expect(stdout).toBe('["dev","--transport","both"]\n');
    expect(code).toBe(3);
    expect(existsSync(join(dir, 'built'))).toBe(true);
    // Its hold on the checkout ends with it.
    expect(existsSync(join(dir, LOCK))).toBe(false);
  });

  it('refuses a PORT in use before it builds anything', async () => {
    await withPortTaken('127.0.0.1', async (port) => {
      const dir = checkout();
      const { code, stdout, stderr } = await node(dir, ['scripts/start.js'], { PORT: String(port) });
      expect(code).toBe(1);
      expect(stderr).toBe(
        `processor-orchestrator: PORT: ${port} is in use by another process on 127.0.0.1; stop that process or set PORT to a free port\n`,
      );
      expect(stdout).toBe('');
      expect(existsSync(join(dir, 'built'))).toBe(false);
    });
  });

  it('refuses to rebuild under an npm start of the same checkout that still runs, and not after it', async () => {
    const dir = checkout();
    mkdirSync(join(dir, LOCK, '..'), { recursive: true });
    // This test's own process stands for the running one.
    writeFileSync(join(dir, LOCK), JSON.stringify({ pid: process.pid, port: '8080' }));
    const refused = await node(dir, ['scripts/start.js'], { PORT: '0' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `processor-orchestrator: another npm start of this checkout is running (pid ${process.pid}, PORT 8080): ` +
        'building now would replace the code it runs; stop it first (Ctrl-C in its terminal)\n',
    );
    expect(existsSync(join(dir, 'built'))).toBe(false);
    // Gone (a pid no process has): the lock is stale, and the next npm start builds and runs.
    writeFileSync(join(dir, LOCK), JSON.stringify({ pid: 2 ** 22 + 1, port: '8080' }));
    const started = await node(dir, ['scripts/start.js'], { PORT: '0' });
    expect(started.code).toBe(3);
    expect(existsSync(join(dir, 'built'))).toBe(true);
  });
});
