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

interface Manifest {
  name: string;
  version: string;
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
  dependencies?: Record<string, string>;
  workspaces?: string[];
}
const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as Manifest;
const pkg = manifest('.');
const sdk = manifest('packages/sdk');
const kit = manifest('packages/testing');
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

describe('the packages', () => {
  it('are the workspaces, each publishable, on the Node versions the service supports', () => {
    expect(pkg.workspaces).toEqual(['packages/sdk', 'packages/testing']);
    expect([sdk.name, kit.name]).toEqual(['@processor-orchestrator/sdk', '@processor-orchestrator/testing']);
    for (const m of [pkg, sdk, kit]) {
      expect({ name: m.name, private: (m as { private?: boolean }).private }).toEqual({ name: m.name });
      expect({ name: m.name, node: m.engines.node }).toEqual({ name: m.name, node: pkg.engines.node });
    }
  });

  it('pin the SDK they implement, and release the kit with the service, on the same dependencies', () => {
    expect(pkg.dependencies?.[sdk.name]).toBe(sdk.version);
    expect(kit.dependencies?.[sdk.name]).toBe(sdk.version);
    expect(kit.version).toBe(pkg.version);
    // The kit is the service's pool: the same versions of what it imports.
    const shared = Object.entries(kit.dependencies ?? {}).filter(([name]) => name !== sdk.name);
    expect(shared.length).toBeGreaterThan(0);
    for (const [name, range] of shared)
      expect({ name, range }).toEqual({ name, range: pkg.dependencies?.[name] });
  });

  it('the SDK depends on nothing', () => {
    expect(sdk.dependencies).toBeUndefined();
  });
});
