import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { cli, fatalEntry, onlyFatal, type CliResult } from '../helpers/cli.js';
import { envPairs, execForm, parseDockerfile, type Stage } from '../helpers/dockerfile.js';
import { repoRoot } from '../helpers/fixtures.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
} from '../helpers/pubsub.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import { killServe, startServe, type ServeProcess } from '../helpers/serve.js';

// The packages as an outside author and an operator get them: packed from this repository (built
// by `npm test` before vitest), installed outside it with npm, from npm's cache when it has them.

const run = promisify(execFile);
const host = inject('pubsubEmulatorHost');
const work = mkdtempSync(join(tmpdir(), 'packages-'));
const tarballs = join(work, 'tarballs');
const author = join(work, 'acme-fraud');
const deployment = join(work, 'deployment');
const markers = join(work, 'markers');

/** Only what npm needs: no npm_config_* or VITEST* of the run that started this test. */
const cleanEnv = () => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? work });

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    env: cleanEnv(),
    maxBuffer: 64 * 2 ** 20,
  });
  return stdout;
}

/** `npm install` from npm's cache when it has the packages (the registry for the rest). */
const install = (cwd: string, args: string[]) => npm(['install', '--prefer-offline', ...args], cwd);

interface Packed {
  name: string;
  version: string;
  filename: string;
  files: { path: string }[];
}

async function pack(args: string[], cwd: string): Promise<Packed[]> {
  return JSON.parse(
    await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs, ...args], cwd),
  ) as Packed[];
}

/** A package folder holding `files` (path → content). */
function writePackage(dir: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** The SDK's tarball with another version of the package and of the contract: another release. */
async function sdkRelease(sdk: string, version: string): Promise<string> {
  const dir = join(work, `sdk-${version}`);
  mkdirSync(dir);
  await run('tar', ['-xzf', sdk, '-C', dir]);
  const manifest = join(dir, 'package', 'package.json');
  writeFileSync(
    manifest,
    JSON.stringify({ ...(JSON.parse(readFileSync(manifest, 'utf8')) as object), version }),
  );
  const versionModule = join(dir, 'package', 'dist', 'version.js');
  const source = readFileSync(versionModule, 'utf8');
  expect(source).toMatch(/CONTRACT_VERSION = '\d+\.\d+\.\d+'/);
  writeFileSync(
    versionModule,
    source.replace(/CONTRACT_VERSION = '[^']+'/, `CONTRACT_VERSION = '${version}'`),
  );
  const [packed] = await pack([join(dir, 'package')], work);
  return join(tarballs, packed!.filename);
}

// Two processors built against their own copy of the SDK (1.1.0, a newer minor): the first fails
// its first attempt with that copy's RetryableError.
const pinnedProcessors = `import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

import { CONTRACT_VERSION, RetryableError, defineProcessor } from '@processor-orchestrator/sdk';

const markers = process.env.PINNED_MARKERS ?? tmpdir();

export default [
  defineProcessor({
    id: 'pinned_retry_v1',
    version: '1.2.0',
    retry: { attempts: 2, backoffMs: 10, maxBackoffMs: 20 },
    execute(ctx) {
      const marker = join(markers, ctx.executionId);
      if (!existsSync(marker)) {
        writeFileSync(marker, '');
        throw new RetryableError('the first try fails');
      }
      return { factors: { sdk: CONTRACT_VERSION } };
    },
  }),
  defineProcessor({
    id: 'pinned_echo_v1',
    version: '1.2.0',
    execute: (ctx) => ({ factors: { documents: ctx.documents.length, sdk: CONTRACT_VERSION } }),
  }),
];
`;

const nextMajorProcessor = `import { defineProcessor } from '@processor-orchestrator/sdk';

export default defineProcessor({ id: 'next_major_v1', version: '3.0.0', execute: () => ({ factors: {} }) });
`;

function jsPackage(name: string, version: string, sdk: string, index: string): string {
  return writePackage(join(work, name), {
    'package.json': JSON.stringify({
      name,
      version,
      type: 'module',
      exports: { '.': './index.js' },
      dependencies: { '@processor-orchestrator/sdk': `file:${sdk}` },
    }),
    'index.js': index,
  });
}

let packed: Packed[];
const tarball = (name: string) => join(tarballs, packed.find((p) => p.name === name)!.filename);
let authorTest: string;
let serve: ServeProcess | undefined;

/** The deployment's CLI (the service installed there), run in the deployment folder. */
async function deployed(args: string[], env: Record<string, string>): Promise<CliResult> {
  const cliFile = join(deployment, 'node_modules', 'processor-orchestrator', 'dist', 'src', 'cli.js');
  try {
    const { stdout, stderr } = await run(process.execPath, [cliFile, ...args], {
      cwd: deployment,
      env: { ...cleanEnv(), PINNED_MARKERS: markers, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw err;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

beforeAll(async () => {
  mkdirSync(tarballs);
  mkdirSync(markers);
  packed = await pack(
    [
      '-w',
      '@processor-orchestrator/sdk',
      '-w',
      '@processor-orchestrator/testing',
      '--include-workspace-root',
    ],
    repoRoot,
  );
  const sdk = tarball('@processor-orchestrator/sdk');
  const [pinned, nextMajor] = await Promise.all([
    sdkRelease(sdk, '1.1.0').then(async (copy) => {
      const [p] = await pack([jsPackage('acme-pinned', '1.2.0', copy, pinnedProcessors)], work);
      return join(tarballs, p!.filename);
    }),
    sdkRelease(sdk, '2.0.0').then(async (copy) => {
      const [p] = await pack([jsPackage('acme-next', '3.0.0', copy, nextMajorProcessor)], work);
      return join(tarballs, p!.filename);
    }),
  ]);

  // The operator's deployment and the author's package, side by side.
  mkdirSync(deployment);
  writeFileSync(
    join(deployment, 'package.json'),
    JSON.stringify({
      name: 'deployment',
      private: true,
      overrides: { 'light-my-request': { cookie: '^1.1.1' } },
    }),
  );
  const deploying = install(deployment, [
    '--omit=dev',
    tarball('processor-orchestrator'),
    sdk,
    pinned,
    nextMajor,
  ]);
  const authoring = (async () => {
    const created = await cli(['new-processor', 'acme_fraud_v1', '--package', author], {}, 30_000, work);
    expect(created.stderr).toBe('');
    await install(author, ['--save-dev', sdk, tarball('@processor-orchestrator/testing')]);
    await npm(['run', 'build'], author);
    authorTest = await npm(['test'], author);
    const [p] = await pack([], author);
    return join(tarballs, p!.filename);
  })();
  const [authored] = await Promise.all([authoring, deploying]);
  await Promise.all([
    install(deployment, ['--omit=dev', authored]),
    // The kit beside a processor package that brings its own copy of the SDK.
    install(author, ['--no-save', pinned]),
  ]);
}, 300_000);

afterAll(async () => {
  await killServe(serve);
  // Three installs: slow to remove on a busy machine.
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the packages, packed', () => {
  const kinds = (files: string[]) => ({
    tests: files.filter((f) => /(^|\/)(tests?|__tests__)\/|\.(test|spec)\.[cm]?[jt]s$/.test(f)),
    sources: files.filter((f) => /\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)),
    configs: files.filter((f) => /(^|\/)tsconfig[^/]*\.json$/.test(f)),
  });
  const filesOf = (name: string) => packed.find((p) => p.name === name)!.files.map((f) => f.path);

  it.each(['@processor-orchestrator/sdk', '@processor-orchestrator/testing', 'processor-orchestrator'])(
    '%s holds no tests, no TypeScript sources and no build configuration',
    (name) => {
      const files = filesOf(name);
      expect(files).toContain('package.json');
      expect(files).toContain('README.md');
      expect(kinds(files)).toEqual({ tests: [], sources: [], configs: [] });
    },
  );

  it('ship their entries built, with the types their exports name', () => {
    for (const p of packed) {
      const manifest = JSON.parse(
        readFileSync(
          join(
            p.name === 'processor-orchestrator'
              ? repoRoot
              : join(repoRoot, 'packages', p.name.split('/')[1]!),
            'package.json',
          ),
          'utf8',
        ),
      ) as {
        exports: Record<string, string | { types?: string; default: string }>;
      };
      for (const [subpath, target] of Object.entries(manifest.exports)) {
        const paths = typeof target === 'string' ? [target] : [target.types, target.default];
        for (const path of paths)
          expect({ subpath, shipped: filesOf(p.name).includes(path!.slice(2)) }).toEqual({
            subpath,
            shipped: true,
          });
      }
    }
    expect(filesOf('@processor-orchestrator/sdk').sort()).toEqual(
      [
        'CHANGELOG.md',
        'README.md',
        ...['contract', 'define', 'index', 'retryable', 'version'].flatMap((m) => [
          `dist/${m}.d.ts`,
          `dist/${m}.js`,
        ]),
        'package.json',
      ].sort(),
    );
    expect(filesOf('@processor-orchestrator/testing')).toContain('dist/processors/worker.js');
    const service = filesOf('processor-orchestrator');
    expect(service).toContain('dist/src/cli.js');
    expect(service).toContain('dist/processors/bank_stmt_v1/index.js');
    expect(service).toContain('schemas/processing-completed.json');
    expect(
      service.filter((f) => f.startsWith('examples/deployment/') || f.startsWith('dist/src/testing/')),
    ).toEqual([]);
  });

  it('the kit ships the runtime and none of the transports, and imports only the packages it depends on', () => {
    const installed = join(author, 'node_modules', '@processor-orchestrator', 'testing');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const files = filesOf('@processor-orchestrator/testing').filter((f) => f.endsWith('.js'));
    expect(
      files.filter((f) =>
        /^dist\/(transport|ledger|ops|pubsub|documents|commands|auth|replay)\/|\/(config|service|sdk|open)\.js$/.test(
          f,
        ),
      ),
    ).toEqual([]);
    const imported = new Set<string>();
    for (const file of files) {
      // TypeScript's own scanner: static imports and exports, and dynamic import() with a literal.
      const { importedFiles } = ts.preProcessFile(readFileSync(join(installed, file), 'utf8'), true, true);
      for (const { fileName } of importedFiles) {
        if (fileName.startsWith('.') || fileName.startsWith('node:')) continue;
        const parts = fileName.split('/');
        imported.add(fileName.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
    // tsx only for an author's TypeScript: their dev dependency, loaded when a processor is .ts.
    expect([...imported].sort()).toEqual([...Object.keys(manifest.dependencies), 'tsx'].sort());
    for (const transport of [
      '@google-cloud/pubsub',
      '@google-cloud/firestore',
      'fastify',
      '@opentelemetry/sdk-trace-base',
    ]) {
      expect({ transport, installed: existsSync(join(author, 'node_modules', transport)) }).toEqual({
        transport,
        installed: false,
      });
    }
  });
});

describe('a processor package in its own repository', () => {
  it('is scaffolded outside the repository, installs the packed SDK and kit, builds, and passes its test with the kit', () => {
    expect(authorTest).toMatch(/Tests\s+.*1 passed/);
    expect(existsSync(join(author, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(author, 'dist', 'index.d.ts'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(author, 'package.json'), 'utf8')) as {
      peerDependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(manifest.peerDependencies).toEqual({ '@processor-orchestrator/sdk': '^1.0.0' });
    expect(Object.keys(manifest.devDependencies)).toEqual(
      expect.arrayContaining([
        '@processor-orchestrator/sdk',
        '@processor-orchestrator/testing',
        'vitest',
        'tsx',
      ]),
    );
  });

  it('the kit runs processors built against another copy of the SDK, retrying its RetryableError', async () => {
    const script = `
      import { RetryableError } from '@processor-orchestrator/sdk';
      import { runProcessor } from '@processor-orchestrator/testing';
      import pinned from 'acme-pinned';
      import { RetryableError as TheirRetryableError } from './node_modules/acme-pinned/node_modules/@processor-orchestrator/sdk/dist/index.js';
      const results = [await runProcessor(pinned[0]), await runProcessor(pinned[1], { documents: [] })];
      console.log(JSON.stringify({ results, ours: new TheirRetryableError('x') instanceof RetryableError, theirs: new RetryableError('x') instanceof TheirRetryableError }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: author,
      env: { ...cleanEnv(), PINNED_MARKERS: markers },
    });
    expect(JSON.parse(stdout)).toMatchObject({
      results: [
        { status: 'completed', processor_id: 'pinned_retry_v1', attempts: 2, factors: { sdk: '1.1.0' } },
        { status: 'completed', processor_id: 'pinned_echo_v1', factors: { documents: 0, sdk: '1.1.0' } },
      ],
      ours: true,
      theirs: true,
    });
  });
});

describe('a deployment made of packages', () => {
  const documents = join(deployment, 'node_modules', 'processor-orchestrator', 'examples', 'documents');
  const packages = 'acme-fraud,acme-pinned';

  it('holds two copies of the SDK: the service and acme-fraud share one, acme-pinned has its own', () => {
    const version = (path: string) =>
      (
        JSON.parse(readFileSync(join(deployment, 'node_modules', path, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    expect(version('@processor-orchestrator/sdk')).toBe('1.0.0');
    expect(version('acme-pinned/node_modules/@processor-orchestrator/sdk')).toBe('1.1.0');
    expect(existsSync(join(deployment, 'node_modules', 'acme-fraud', 'node_modules'))).toBe(false);
  });

  it('lists the processors of PROCESSOR_PACKAGES with their package, version and contract', async () => {
    const listed = await deployed(['processors'], { PROCESSOR_PACKAGES: packages });
    expect(listed.stderr).toBe('');
    expect(listed.stdout).toMatch(/^acme_fraud_v1\s+0\.1\.0\s+1\.0\.0\s+30000 ms\s+acme-fraud@0\.1\.0$/m);
    expect(listed.stdout).toMatch(
      /^pinned_retry_v1\s+1\.2\.0\s+1\.1\.0\s+60000 ms \(default\)\s+acme-pinned@1\.2\.0$/m,
    );
    expect(listed.stdout).toMatch(/^pinned_echo_v1\s+1\.2\.0\s+1\.1\.0\s+.*acme-pinned@1\.2\.0$/m);
    expect(listed.stdout).not.toMatch(/bank_stmt_v1/);
  });

  it('runs an event with them: plugins built against either copy of the SDK complete in one process', async () => {
    const event = join(work, 'event.json');
    writeFileSync(
      event,
      JSON.stringify({
        event: 'underwriting.created',
        data: { underwriting_id: 'uw_pkg', documents: ['doc_001', 'doc_404'] },
      }),
    );
    const result = await deployed(['run', event], {
      PROCESSOR_PACKAGES: packages,
      DOCUMENTS_DIR: documents,
      LOG_LEVEL: 'warn',
    });
    expect(result.code).toBe(0);
    const completed = ProcessingCompletedSchema.parse(JSON.parse(result.stdout));
    expect(completed.overall_status).toBe('success');
    expect(
      Object.fromEntries(
        completed.completed_processors.map((p) => [p.processor_id, [p.attempts, p.factors]]),
      ),
    ).toEqual({
      acme_fraud_v1: [1, { document_count: 1, bank_statement_count: 1, missing_document_count: 1 }],
      pinned_retry_v1: [2, { sdk: '1.1.0' }],
      pinned_echo_v1: [1, { documents: 1, sdk: '1.1.0' }],
    });
  });

  it('serves on the emulator as examples/deployment/Dockerfile starts it, and publishes the processors’ results', async () => {
    const stages: Stage[] = parseDockerfile(
      readFileSync(join(repoRoot, 'examples', 'deployment', 'Dockerfile'), 'utf8'),
    );
    const runtime = stages.at(-1)!;
    const last = (keyword: string) =>
      runtime.instructions.filter((i) => i.keyword === keyword).at(-1)?.args ?? '[]';
    const env = runtime.instructions
      .filter((i) => i.keyword === 'ENV')
      .reduce((all, i) => ({ ...all, ...envPairs(i.args) }), {});
    const pubsub = emulatorPubSub(host);
    const completedTopic = uniqueName('completed');
    const { subscription } = await createTopicWithSubscription(
      pubsub,
      completedTopic,
      `${completedTopic}-sub`,
    );
    const completed = collectMessages(subscription);
    try {
      // The image's build step that writes Node's compile cache, from the installed service; its
      // folder here is the deployment's own.
      const cache = { NODE_COMPILE_CACHE: join(deployment, '.compile-cache') };
      const [, ...compileCache] = execForm(last('RUN'));
      await promisify(execFile)(process.execPath, compileCache, {
        cwd: deployment,
        env: { ...process.env, ...cache },
      });
      serve = startServe(
        {
          ...env,
          ...cache,
          PORT: '0',
          PROCESSOR_PACKAGES: packages,
          GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
          PUBSUB_EMULATOR_HOST: host,
          PUSH_AUTH: 'disabled',
          COMPLETED_TOPIC: completedTopic,
          DOCUMENTS_DIR: documents,
          PINNED_MARKERS: markers,
        },
        // The image's node is this machine's node; the rest of the command line is the image's.
        { args: [...execForm(last('ENTRYPOINT')).slice(1), ...execForm(last('CMD'))], cwd: deployment },
      );
      const base = `http://127.0.0.1:${await serve.port()}`;
      const data = {
        event: 'underwriting.created',
        data: {
          underwriting_id: 'uw_deployed',
          documents: ['doc_001'],
          purchased_processors: ['acme_fraud_v1', 'pinned_echo_v1'],
        },
      };
      expect(
        (await postPush(base, pushEnvelope(JSON.stringify(data), { messageId: 'deployed-1' }))).status,
      ).toBe(204);
      const [message] = await completed.waitFor(1, 15_000);
      const result = ProcessingCompletedSchema.parse(JSON.parse(message!.data));
      expect(result).toMatchObject({ underwriting_id: 'uw_deployed', overall_status: 'success' });
      expect(result.completed_processors.map((p) => p.processor_id).sort()).toEqual([
        'acme_fraud_v1',
        'pinned_echo_v1',
      ]);
      serve.child.kill('SIGTERM');
      expect((await serve.exited).code).toBe(0);
    } finally {
      await completed.close();
      await pubsub.close();
    }
  });

  it('refuses at start-up, with one line, a processor built for another major version of the contract', async () => {
    const line = {
      code: 'PROCESSOR_CONTRACT_MISMATCH',
      message:
        'acme-next@3.0.0: processor next_major_v1 3.0.0 is built for plugin contract 2.0.0, but this service implements 1.0.0 and runs processors built for 1.x; rebuild it with @processor-orchestrator/sdk 1.x',
    };
    const listed = await deployed(['processors'], { PROCESSOR_PACKAGES: `${packages},acme-next` });
    expect(listed.code).toBe(1);
    expect(onlyFatal(listed.stderr)).toMatchObject(line);
    // serve logs its start first (it answers probes while it starts); the refusal is its one error.
    const served = await deployed(['serve'], {
      PROCESSOR_PACKAGES: `${packages},acme-next`,
      DOCUMENTS_DIR: documents,
      PORT: '0',
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
      PUBSUB_EMULATOR_HOST: host,
      PUSH_AUTH: 'disabled',
    });
    expect(served.code).toBe(1);
    const entries = served.stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { severity: string });
    expect(entries.filter((e) => e.severity === 'ERROR')).toEqual([fatalEntry(served.stderr)]);
    expect(fatalEntry(served.stderr)).toMatchObject(line);
  });

  it.each([
    [
      'a package that is not installed',
      '@acme/missing',
      'CONFIG_INVALID',
      2,
      /^PROCESSOR_PACKAGES: @acme\/missing: Cannot find package '@acme\/missing' imported from .*\/node_modules\/processor-orchestrator\/dist\/src\/processors\/packages\.js$/,
    ],
    [
      'a package without a processor',
      'ulid',
      'PROCESSOR_INVALID',
      1,
      /^ulid@\d+\.\d+\.\d+: has no default export; it must default-export a processor definition, or an array of them$/,
    ],
  ])('stops with one line on %s', async (_case, name, code, exitCode, message) => {
    const result = await deployed(['processors'], { PROCESSOR_PACKAGES: name });
    expect(result.code).toBe(exitCode);
    const fatal = onlyFatal(result.stderr);
    expect(fatal.code).toBe(code);
    expect(fatal.message).toMatch(message);
  });
});
