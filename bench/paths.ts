import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root, found by walking up from this module: the same answer from `bench/` (tsx)
 * and from `dist/bench/` (compiled), where the plain-JS fixtures are not copied.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** Paths of the bench fixtures, under the package root. */
export function fixturePaths(root = packageRoot()) {
  const fixtures = join(root, 'bench', 'fixtures');
  return {
    trivialDir: join(fixtures, 'trivial'),
    spinDir: join(fixtures, 'spin'),
    signalDir: join(fixtures, 'signal'),
    rawWorker: join(fixtures, 'raw-worker.js'),
    spawnWorker: join(fixtures, 'spawn-worker.js'),
  };
}

export type FixturePaths = ReturnType<typeof fixturePaths>;
