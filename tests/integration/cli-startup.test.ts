import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { promisify } from 'node:util';
import { execFile } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { examplesDir } from '../../src/paths.js';
import { cli, cliWithNodeOptions, onlyFatal, withPortTaken } from '../helpers/cli.js';
import { fixtureProcessorsDir, repoRoot } from '../helpers/fixtures.js';

const run = promisify(execFile);
const eventFile = join(examplesDir, 'events', 'uw_1003_missing_and_uninstalled.json');
const documentsDir = join(examplesDir, 'documents');
const packageVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('start-up checks of the paths the configuration names', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'startup-'));
  const aFile = join(scratch, 'a-file.json');
  writeFileSync(aFile, '{}');

  it.each([
    [
      'DOCUMENTS_DIR',
      { DOCUMENTS_DIR: '/nonexistent/documents' },
      'DOCUMENTS_DIR: /nonexistent/documents does not exist',
    ],
    ['DOCUMENTS_DIR', { DOCUMENTS_DIR: aFile }, `DOCUMENTS_DIR: ${aFile} is not a folder`],
    [
      'PROCESSORS_DIR',
      { DOCUMENTS_DIR: documentsDir, PROCESSORS_DIR: '/nonexistent/processors' },
      'PROCESSORS_DIR: /nonexistent/processors does not exist',
    ],
    [
      'PURCHASES_FILE',
      { DOCUMENTS_DIR: documentsDir, PURCHASES_FILE: '/nonexistent/purchases.json' },
      'PURCHASES_FILE: /nonexistent/purchases.json does not exist',
    ],
    [
      'PURCHASES_FILE',
      { DOCUMENTS_DIR: documentsDir, PURCHASES_FILE: scratch },
      `PURCHASES_FILE: ${scratch} is not a file`,
    ],
  ])('run stops with exit 2 and one line naming %s when it is wrong: %j', async (_name, env, message) => {
    const { code, stdout, stderr } = await cli(['run', eventFile], env);
    expect(stdout).toBe('');
    expect(onlyFatal(stderr)).toMatchObject({
      severity: 'ERROR',
      code: 'CONFIG_INVALID',
      message,
      exit_code: 2,
    });
    expect(code).toBe(2);
  });

  it('processors stops with exit 2 and one line naming PROCESSORS_DIR when it does not exist', async () => {
    const { code, stderr } = await cli(['processors'], { PROCESSORS_DIR: '/nonexistent/processors' });
    expect(onlyFatal(stderr)).toMatchObject({
      code: 'PROCESSORS_DIR_UNREADABLE',
      message: 'PROCESSORS_DIR: /nonexistent/processors does not exist',
    });
    expect(code).toBe(2);
  });

  it('accepts LOG_LEVEL in any case', async () => {
    const { code, stderr } = await cli(['processors'], { LOG_LEVEL: 'DEBUG' });
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('an unreachable or wrong PUBSUB_EMULATOR_HOST', () => {
  let notTheEmulator: Server;
  let wrongHost: string;

  beforeAll(async () => {
    notTheEmulator = createHttpServer((_req, res) => res.writeHead(404).end('not here'));
    await new Promise<void>((resolve) => notTheEmulator.listen(0, '127.0.0.1', resolve));
    wrongHost = `127.0.0.1:${(notTheEmulator.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => notTheEmulator.close(() => resolve())));

  const commands: [string, string[]][] = [
    ['dev', ['dev']],
    ['replay', ['replay', eventFile]],
    ['serve', ['serve']],
  ];

  it.each(commands)(
    '%s says within 5 s, in one line, that nothing answers there and what to do',
    async (_n, args) => {
      const host = `127.0.0.1:${await closedPort()}`;
      const started = performance.now();
      const { code, stdout, stderr } = await cli(args, {
        PUBSUB_EMULATOR_HOST: host,
        GOOGLE_CLOUD_PROJECT: 'local-project',
        DOCUMENTS_DIR: documentsDir,
        PORT: '0',
      });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(stdout).toBe('');
      const fatal = onlyFatal(stderr);
      expect(fatal).toMatchObject({ code: 'EMULATOR_UNAVAILABLE' });
      expect(fatal.message).toBe(
        `PUBSUB_EMULATOR_HOST: no Pub/Sub emulator at ${host} (ECONNREFUSED); start it (\`npm start\` starts one), or fix or unset PUBSUB_EMULATOR_HOST`,
      );
      expect(code).toBe(1);
    },
  );

  it.each(commands)('%s says in one line that what answers there is not the emulator', async (_n, args) => {
    const { code, stderr } = await cli(args, {
      PUBSUB_EMULATOR_HOST: wrongHost,
      GOOGLE_CLOUD_PROJECT: 'local-project',
      DOCUMENTS_DIR: documentsDir,
      PORT: '0',
    });
    expect(onlyFatal(stderr).message).toBe(
      `PUBSUB_EMULATOR_HOST: ${wrongHost} answers, but not as the Pub/Sub emulator does (HTTP 404); start it (\`npm start\` starts one), or fix or unset PUBSUB_EMULATOR_HOST`,
    );
    expect(code).toBe(1);
  });
});

describe('the fatal line on a terminal', () => {
  it('is plain text, one line, when stderr is a terminal (util-linux script gives it one)', async () => {
    const command = `${process.execPath} ${join(repoRoot, 'dist', 'src', 'cli.js')} run ${eventFile}`;
    const { stdout, code } = await run('script', ['-qec', command, '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '', PROCESSOR_TIMEOUT_MS: 'soon' },
    }).then(
      (done) => ({ stdout: done.stdout, code: 0 }),
      (err: { stdout: string; code: number }) => ({ stdout: err.stdout, code: err.code }),
    );
    expect(code).toBe(2);
    expect(stdout.replace(/\r\n/g, '\n')).toBe(
      'processor-orchestrator: PROCESSOR_TIMEOUT_MS: must be a whole number from 1 to 3600000\n',
    );
  });
});

describe('a port in use', () => {
  it('serve stops with one line naming PORT', async () => {
    await withPortTaken('0.0.0.0', async (port) => {
      const { code, stderr } = await cli(['serve'], {
        PORT: String(port),
        DOCUMENTS_DIR: documentsDir,
        PROCESSORS_DIR: fixtureProcessorsDir,
        PUSH_AUDIENCE: 'https://example.test/pubsub/push',
        PUSH_SERVICE_ACCOUNT: 'pusher@example.iam.gserviceaccount.com',
        // Configured, so that /ops says nothing at start either.
        OPS_AUDIENCE: 'https://example.test/ops',
      });
      expect(onlyFatal(stderr)).toMatchObject({
        code: 'PORT_IN_USE',
        message: `PORT: ${port} is in use by another process on 0.0.0.0; stop that process or set PORT to a free port`,
      });
      expect(code).toBe(1);
    });
  });
});

describe('dev and a port in use', () => {
  it('stops with one line naming PORT before it starts an emulator or anything else', async () => {
    await withPortTaken('127.0.0.1', async (port) => {
      // No emulator is given: dev would say it starts both, and start them, were PORT not checked first.
      const { code, stdout, stderr } = await cli(['dev'], { PORT: String(port) });
      expect(onlyFatal(stderr)).toMatchObject({
        code: 'PORT_IN_USE',
        message: `PORT: ${port} is in use by another process on 127.0.0.1; stop that process or set PORT to a free port`,
      });
      expect(code).toBe(1);
      expect(stdout).toBe('');
    });
  });

  it('says --transport takes push, pull or both', async () => {
    const { code, stderr } = await cli(['dev', '--transport', 'carrier-pigeon'], {});
    expect(code).toBe(2);
    expect(onlyFatal(stderr)).toMatchObject({
      code: 'USAGE',
      message: '--transport: must be push, pull or both, got "carrier-pigeon"',
    });
  });
});

describe('CLI conventions', () => {
  it.each([
    'serve',
    'dev',
    'replay',
    'run',
    'status',
    'rerun',
    'pause',
    'resume',
    'processors',
    'new-processor',
  ])('%s --help and -h print its usage and exit 0, doing nothing else', async (command) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await cli([command, flag], { PORT: 'not-read' });
      expect({ flag, stderr }).toEqual({ flag, stderr: '' });
      expect(stdout).toMatch(new RegExp(`^Usage: processor-orchestrator ${command}\\b`));
      expect(code).toBe(0);
    }
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await cli(['--version']);
    expect(stdout).toBe(`${packageVersion}\n`);
    expect(code).toBe(0);
  });

  it('run --dry-run says which processors would run and why, their deadlines and the documents, running nothing', async () => {
    const { code, stdout, stderr } = await cli(['run', '--dry-run', eventFile], {
      DOCUMENTS_DIR: documentsDir,
      PROCESSORS_DIR: fixtureProcessorsDir,
      PROCESSOR_TIMEOUT_MS: '5000',
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(
      "underwriting uw_1003: 3 processors would run, from the event's purchased_processors",
    );
    expect(stdout).toMatch(/^bank_stmt_v1\s+-\s+-\s+not installed: would be FAILED/m);
    expect(stdout).toMatch(/^doc_101\s+resolves \(bank_statement\)$/m);
    expect(stdout).toMatch(/^doc_404\s+missing: not found$/m);
    expect(stdout).toContain('documents from');
    expect(stdout).toContain('2 of 3 resolve');
    expect(stdout).toContain('Dry run: nothing was run.');
  });

  it('run gives processors a document that is not valid as missing, and says why: the event, or the thread that read a large one', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'invalid-docs-'));
    const write = (id: string, body: unknown) =>
      writeFileSync(join(scratch, `${id}.json`), typeof body === 'string' ? body : JSON.stringify(body));
    write('doc_ok', { document_id: 'doc_ok', document_type: 'bank_statement', extra: 'dropped' });
    write('doc_broken', '{ "document_id": ');
    // Larger than the main thread checks as it fetches: validated by the thread that reads it.
    const content = 'x'.repeat(100 * 1024);
    write('doc_big', { document_id: 'doc_big', document_type: 'bank_statement', content });
    write('doc_big_other', { document_id: 'doc_x', document_type: 't', content });
    const file = join(scratch, 'event.json');
    writeFileSync(
      file,
      JSON.stringify({
        event: 'underwriting.created',
        data: {
          underwriting_id: 'uw_invalid_docs',
          documents: ['doc_big_other', 'doc_broken', 'doc_ok', 'doc_gone', 'doc_big'],
          purchased_processors: ['fx_ok'],
        },
      }),
    );
    const env = { DOCUMENTS_DIR: scratch, PROCESSORS_DIR: fixtureProcessorsDir, LOG_LEVEL: 'info' };
    const { code, stdout, stderr } = await cli(['run', file], env);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as { completed_processors: { factors: Record<string, unknown> }[] };
    expect(result.completed_processors[0]?.factors).toMatchObject({
      documents: ['doc_ok', 'doc_big'],
      missing: ['doc_gone', 'doc_broken', 'doc_big_other'],
    });
    const lines = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l['message'] === 'underwriting processed')).toMatchObject({
      missing_documents: [
        { id: 'doc_gone', reason: 'not found' },
        { id: 'doc_broken', reason: expect.stringMatching(/^invalid JSON/) as string },
      ],
    });
    const said = lines.filter((l) => 'invalid_documents' in l);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({
      severity: 'WARNING',
      processor_id: 'fx_ok',
      underwriting_id: 'uw_invalid_docs',
      invalid_documents: [{ id: 'doc_big_other', reason: 'its JSON holds document doc_x' }],
    });

    const dry = await cli(['run', '--dry-run', file], env);
    expect(dry.stdout).toMatch(/^doc_broken\s+missing: invalid JSON/m);
    expect(dry.stdout).toMatch(/^doc_ok\s+resolves \(bank_statement\)$/m);
    expect(dry.stdout).toMatch(/^doc_big_other\s+missing: its JSON holds document doc_x$/m);
    expect(dry.stdout).toContain('2 of 5 resolve');
  });

  it('run --dry-run names the organization purchases, or every installed processor, as the reason', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'dry-'));
    const event = (data: Record<string, unknown>) => {
      const file = join(scratch, `${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(
        file,
        JSON.stringify({ event: 'underwriting.created', data: { documents: [], ...data } }),
      );
      return file;
    };
    const env = {
      DOCUMENTS_DIR: documentsDir,
      PROCESSORS_DIR: fixtureProcessorsDir,
      PURCHASES_FILE: join(examplesDir, 'purchases.json'),
      PROCESSOR_TIMEOUT_MS: '5000',
    };
    const org = await cli(
      ['run', '--dry-run', event({ underwriting_id: 'uw_o', organization_id: 'org_42' })],
      env,
    );
    expect(org.stdout).toContain(
      `underwriting uw_o: 2 processors would run, from the purchases of organization org_42 in PURCHASES_FILE`,
    );
    const all = await cli(['run', '--dry-run', event({ underwriting_id: 'uw_a' })], env);
    expect(all.stdout).toMatch(/underwriting uw_a: \d+ processors would run, from every installed processor/);
    expect(all.stdout).toMatch(/^fx_spin\s+1\.0\.0\s+300 ms\s+tests\/fixtures\/processors\/fx_spin\.mjs$/m);
    expect(all.stdout).toMatch(/^fx_ok\s+1\.0\.0\s+5000 ms \(default\)\s+/m);
  });

  it('run --processors runs only those, and --dry-run says so', async () => {
    const env = { DOCUMENTS_DIR: documentsDir, PROCESSORS_DIR: fixtureProcessorsDir, PROCESSOR_THREADS: '2' };
    const dry = await cli(['run', eventFile, '--processors', 'fx_ok,fx_throw', '--dry-run'], env);
    expect(dry.stdout).toContain(
      'underwriting uw_1003: 2 processors would run, from the --processors option',
    );
    const { code, stdout, stderr } = await cli(['run', eventFile, '--processors', 'fx_ok,fx_throw'], env);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as {
      completed_processors: { processor_id: string }[];
      failed_processors: { processor_id: string }[];
      summary: { total_processors: number };
    };
    expect(result.summary.total_processors).toBe(2);
    expect(result.completed_processors.map((p) => p.processor_id)).toEqual(['fx_ok']);
    expect(result.failed_processors.map((p) => p.processor_id)).toEqual(['fx_throw']);
  });

  it('run refuses an unknown option or a bad --processors list with one line, exit 2', async () => {
    const unknown = await cli(['run', eventFile, '--nope'], { DOCUMENTS_DIR: documentsDir });
    expect(onlyFatal(unknown.stderr)).toMatchObject({ code: 'USAGE' });
    expect(onlyFatal(unknown.stderr).message).toContain("'--nope'");
    expect(unknown.code).toBe(2);
    const bad = await cli(['run', eventFile, '--processors', 'Bad Id'], { DOCUMENTS_DIR: documentsDir });
    expect(onlyFatal(bad.stderr)).toMatchObject({
      code: 'USAGE',
      message: '--processors: "Bad Id" is not a processor id (a-z, 0-9, _)',
    });
    expect(bad.code).toBe(2);
  });
});

describe('start-up cost', () => {
  const HEAVY = ['@google-cloud/pubsub', 'piscina', 'fastify', 'google-auth-library', 'undici', 'jose'];
  const hook = join(repoRoot, 'tests', 'fixtures', 'import-trace', 'register.mjs');

  /** Every module URL the built CLI resolves to run `args`. */
  async function modulesLoaded(args: string[], env: Record<string, string> = {}): Promise<string[]> {
    const trace = join(mkdtempSync(join(tmpdir(), 'trace-')), 'imports.txt');
    writeFileSync(trace, '');
    const { code, stderr } = await cliWithNodeOptions(args, { ...env, IMPORT_TRACE_FILE: trace }, [
      '--import',
      hook,
    ]);
    expect(code, stderr).toBe(0);
    return readFileSync(trace, 'utf8').split('\n');
  }

  const packageOf = (url: string) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];

  it.each([
    ['--help', ['--help']],
    ['processors', ['processors']],
    ['run --dry-run', ['run', '--dry-run', eventFile]],
  ])('%s loads none of the transport, pool or cloud client packages', async (_name, args) => {
    const urls = await modulesLoaded(args, { DOCUMENTS_DIR: documentsDir });
    // The trace works: it saw the CLI's own modules.
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/fatal\.js$/));
    const loaded = new Set(urls.map(packageOf));
    expect(HEAVY.filter((name) => loaded.has(name))).toEqual([]);
  });
});
