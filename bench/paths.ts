import { join } from 'node:path';

import { packageRoot } from '../src/paths.js';

/**
 * Paths of the bench fixtures, under the package root: the plain-JS fixtures are not copied to
 * `dist/bench/`.
 */
export function fixturePaths(root = packageRoot) {
  const fixtures = join(root, 'bench', 'fixtures');
  return {
    trivialDir: join(fixtures, 'trivial'),
    spinDir: join(fixtures, 'spin'),
    signalDir: join(fixtures, 'signal'),
    ioDir: join(fixtures, 'io'),
    cpuDir: join(fixtures, 'cpu'),
    capacityDir: join(fixtures, 'capacity'),
    rawWorker: join(fixtures, 'raw-worker.js'),
    spawnWorker: join(fixtures, 'spawn-worker.js'),
  };
}

export type FixturePaths = ReturnType<typeof fixturePaths>;
