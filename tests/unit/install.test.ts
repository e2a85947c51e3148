import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { minVersion, satisfies } from 'semver';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures.js';

interface LockedPackage {
  version?: string;
  dev?: boolean;
  hasInstallScript?: boolean;
  engines?: { node?: string };
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockedPackage>;
};
const locked = Object.entries(lock.packages)
  .filter(([path]) => path.startsWith('node_modules/'))
  .map(([path, entry]) => ({
    name: path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length),
    ...entry,
  }));

describe('npm ci', () => {
  it('meets no engine it cannot satisfy on the oldest Node the package supports (no EBADENGINE)', () => {
    const oldest = minVersion(pkg.engines.node)?.version ?? '';
    expect(oldest).toMatch(/^20\./);
    const refused = locked
      .filter((p) => p.engines?.node !== undefined && !satisfies(oldest, p.engines.node))
      .map((p) => `${p.name}@${p.version ?? '?'} wants node ${p.engines?.node ?? ''}`);
    expect(refused).toEqual([]);
  });

  it('has a decision in package.json allowScripts for every dependency install script, and no stale one', () => {
    const withScripts = [...new Set(locked.filter((p) => p.hasInstallScript).map((p) => p.name))].sort();
    expect(Object.keys(pkg.allowScripts ?? {}).sort()).toEqual(withScripts);
  });
});
