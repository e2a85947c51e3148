import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { envPairs, execForm, parseDockerfile } from '../helpers/dockerfile.js';
import { repoRoot } from '../helpers/fixtures.js';

// tests/integration/packages.test.ts installs packed packages the way this example does and serves
// with its Dockerfile's command line; this keeps the example's own files consistent.
const example = join(repoRoot, 'examples', 'deployment');
const read = (name: string) => readFileSync(join(example, name), 'utf8');
const service = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  overrides: unknown;
};
const deployment = JSON.parse(read('package.json')) as {
  private: boolean;
  dependencies: Record<string, string>;
  overrides: unknown;
};
const stages = parseDockerfile(read('Dockerfile'));
const [deps, runtime] = stages;
// An instruction's arguments, continuation lines joined with single spaces.
const args = (stage: typeof deps, keyword: string) =>
  stage?.instructions.filter((i) => i.keyword === keyword).map((i) => i.args.replace(/\s+/g, ' ')) ?? [];

describe('examples/deployment', () => {
  it('depends on this release of the service, exactly, and on processor packages', () => {
    expect(deployment.private).toBe(true);
    expect(deployment.dependencies[service.name]).toBe(service.version);
    expect(Object.keys(deployment.dependencies).length).toBeGreaterThan(1);
    expect(deployment.overrides).toEqual(service.overrides);
  });

  it('installs exactly what the lockfile pins, with the registry credentials in no layer', () => {
    expect(stages).toHaveLength(2);
    expect(args(deps, 'COPY')).toEqual(['package.json package-lock.json ./']);
    expect(args(deps, 'RUN')).toEqual([
      '--mount=type=secret,id=npmrc,target=/root/.npmrc npm ci --omit=dev --no-audit --no-fund --ignore-scripts',
    ]);
    expect(read('.dockerignore').split('\n')).toEqual(expect.arrayContaining(['node_modules', '.npmrc']));
  });

  it('runs serve from the installed service, as a non-root user, loading the packages it depends on', () => {
    expect(runtime?.image).toMatch(/nodejs22/);
    expect(args(runtime, 'USER')).toEqual(['nonroot']);
    // Its one RUN writes Node's compile cache with the installed service's own module, as the
    // runtime user, after the copy (tests/integration/packages.test.ts runs it).
    const [run, ...more] = args(runtime, 'RUN').map(execForm);
    expect(more).toEqual([]);
    expect(run).toEqual([
      '/nodejs/bin/node',
      '--enable-source-maps',
      `node_modules/${service.name}/dist/src/compile-cache.js`,
    ]);
    const keywords = runtime?.instructions.map((i) => i.keyword) ?? [];
    expect(keywords.indexOf('RUN')).toBeGreaterThan(keywords.indexOf('USER'));
    expect(keywords.indexOf('RUN')).toBeGreaterThan(keywords.lastIndexOf('COPY'));
    expect(args(runtime, 'COPY')).toEqual(['--from=deps /app/node_modules ./node_modules']);
    const cmd = execForm(args(runtime, 'CMD').at(-1) ?? '[]');
    expect(cmd).toEqual([`node_modules/${service.name}/${service.bin[service.name] ?? ''}`, 'serve']);
    const env = Object.assign({}, ...args(runtime, 'ENV').map(envPairs)) as Record<string, string>;
    const processorPackages = Object.keys(deployment.dependencies).filter((name) => name !== service.name);
    expect(env['PROCESSOR_PACKAGES']?.split(',').sort()).toEqual(processorPackages.sort());
  });
});
