import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { examplesDir } from '../../src/paths.js';
import { cli, onlyFatal } from '../helpers/cli.js';
import { repoRoot } from '../helpers/fixtures.js';
import { TEST_PROJECT_ID, emulatorPubSub, uniqueName } from '../helpers/pubsub.js';

const host = inject('pubsubEmulatorHost');
const eventsDir = join(examplesDir, 'events');
const expectedDir = join(examplesDir, 'expected');

/** The processors the examples were written for. */
const SHIPPED_PROCESSORS = ['bank_stmt_v1', 'clear_business_report_v1', 'secretary_of_state_v1'];

/**
 * A PROCESSORS_DIR holding the shipped processors (built) and nothing else: the examples' expected
 * results hold whatever else `new-processor` has added to processors/.
 */
function shippedProcessorsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shipped-'));
  for (const id of SHIPPED_PROCESSORS)
    symlinkSync(join(repoRoot, 'dist', 'processors', id), join(dir, id), 'dir');
  return dir;
}

/** `dev` as a user starts it, with its output collected; resolves once it prints where it serves. */
function startDev(env: Record<string, string>): {
  child: ChildProcess;
  ready: Promise<string>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli.js'), 'dev'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('npx processor-orchestrator replay')) resolve(out);
    });
    void exited.then((code) => reject(new Error(`dev exited with ${code}:\n${out}\n${err}`)));
  });
  return { child, ready, stdout: () => out, stderr: () => err, exited };
}

describe('dev and replay, on the Pub/Sub emulator', () => {
  const topics = {
    UNDERWRITING_TOPIC: uniqueName('uw-created'),
    COMPLETED_TOPIC: uniqueName('completed'),
    DEAD_LETTER_TOPIC: uniqueName('dead-letters'),
  };
  const env = {
    PUBSUB_EMULATOR_HOST: host,
    FIRESTORE_EMULATOR_HOST: inject('firestoreEmulatorHost'),
    LEDGER_COLLECTION: uniqueName('executions'),
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    ...topics,
  };
  let dev: ReturnType<typeof startDev>;
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'replay-'));
    dev = startDev({ ...env, PROCESSORS_DIR: shippedProcessorsDir() });
    await dev.ready;
  }, 30_000);

  afterAll(async () => {
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toBe(0);
  });

  it('dev says where everything is and how to replay, and runs both the pull and the push subscription', () => {
    const banner = dev.stdout();
    expect(banner).toMatch(/serving on http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C stops it\)/);
    expect(banner).toContain(`Pub/Sub emulator  ${host}, project ${TEST_PROJECT_ID}\n`);
    expect(banner).toContain(`pulled from ${topics.UNDERWRITING_TOPIC}-pull and pushed to http://127.0.0.1:`);
    expect(banner).toContain(
      `PUBSUB_EMULATOR_HOST=${host} GOOGLE_CLOUD_PROJECT=${TEST_PROJECT_ID} npx processor-orchestrator replay examples/events --expect examples/expected`,
    );
    expect(banner).toMatch(/ operations {8}http:\/\/127\.0\.0\.1:\d+\/ops \(OPS_AUTH=disabled\)/);
  });

  it('replays the examples with the results in examples/expected, each through both paths and run once', async () => {
    const { code, stdout, stderr } = await cli(['replay', eventsDir, '--expect', expectedDir], env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /uw_1001_all_processors\s+uw_1001\s+partial_success\s+2\s+1\s+0\s+[\d.]+ s\s+same/,
    );
    expect(stdout).toMatch(/uw_1002_org_purchases\s+uw_1002\s+success\s+2\s+0\s+0\s+[\d.]+ s\s+same/);
    expect(stdout).toMatch(
      /uw_1003_missing_and_uninstalled\s+uw_1003\s+partial_success\s+1\s+2\s+0\s+[\d.]+ s\s+same/,
    );
    expect(stdout).toContain('3 replayed, every result as expected.');
    // Pulled once and pushed once: the ledger runs each example once, by whichever path came first,
    // and acks the other delivery without publishing again.
    await expect
      .poll(
        () =>
          dev.stderr().match(/"message":"already published; acked without publishing again"/g)?.length ?? 0,
        { timeout: 15_000 },
      )
      .toBe(3);
    const processed = dev
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"message":"underwriting processed"'))
      .map((l) => JSON.parse(l) as { transport: string; underwriting_id: string });
    expect(processed.map((l) => l.underwriting_id).sort()).toEqual(['uw_1001', 'uw_1002', 'uw_1003']);
    for (const l of processed) expect(['pull', 'push']).toContain(l.transport);
  });

  it('fails with a diff that shows the change when an expected result is changed', async () => {
    const changed = join(scratch, 'expected');
    cpSync(expectedDir, changed, { recursive: true });
    const file = join(changed, 'uw_1002_org_purchases.json');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('"overall_status": "success"', '"overall_status": "failed"'),
    );
    const { code, stdout, stderr } = await cli(['replay', eventsDir, '--expect', changed], env);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/uw_1002_org_purchases\s+uw_1002\s+success.*DIFFERS/);
    expect(stdout).toContain(`examples/events/uw_1002_org_purchases.json: differs from ${file}:\n`);
    expect(stdout).toContain('    overall_status: expected "failed", got "success"\n');
    expect(stdout).toContain('1 of 3 did not replay as they should (see above).');
  });

  it('names an added or removed processor in one line each, whatever its position', async () => {
    const changed = join(scratch, 'expected-processors');
    cpSync(expectedDir, changed, { recursive: true });
    const file = join(changed, 'uw_1001_all_processors.json');
    const expected = JSON.parse(readFileSync(file, 'utf8')) as {
      completed_processors: { processor_id: string }[];
    };
    // Expect a processor that is not installed in the middle, and lose a real one.
    expected.completed_processors.splice(1, 1, {
      ...expected.completed_processors[0]!,
      processor_id: 'ghost_v1',
    });
    writeFileSync(file, JSON.stringify(expected));
    const { code, stdout, stderr } = await cli(
      ['replay', join(eventsDir, 'uw_1001_all_processors.json'), '--expect', changed],
      env,
    );
    expect(stderr).toBe('');
    expect(code).toBe(1);
    const diff = stdout.split('\n').filter((l) => l.startsWith('    '));
    expect(diff).toEqual([
      '    completed_processors: removed ghost_v1',
      '    completed_processors: added secretary_of_state_v1',
    ]);
  });

  it('writes each result with --out, and replays JSONL files and captured push envelopes as they came', async () => {
    const inputs = join(scratch, 'inputs');
    const out = join(scratch, 'out');
    cpSync(join(eventsDir, 'uw_1002_org_purchases.json'), join(inputs, 'single.json'));
    const event = (id: string) => ({
      event: 'underwriting.created',
      data: { underwriting_id: id, documents: ['doc_001'], purchased_processors: ['bank_stmt_v1'] },
    });
    writeFileSync(
      join(inputs, 'batch.jsonl'),
      `${JSON.stringify(event('uw_l1'))}\n\n${JSON.stringify(event('uw_l2'))}\n`,
    );
    writeFileSync(
      join(inputs, 'captured.json'),
      JSON.stringify({
        message: {
          data: Buffer.from(JSON.stringify(event('uw_cap'))).toString('base64'),
          attributes: { origin: 'prod' },
          messageId: '42',
          publishTime: '2026-01-01T00:00:00Z',
        },
        subscription: 'projects/prod/subscriptions/push',
      }),
    );
    const { code, stdout, stderr } = await cli(['replay', inputs, '--out', out], env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/batch\.1\s+uw_l1\s+success/);
    // Named by line number: the blank line 2 is skipped.
    expect(stdout).toMatch(/batch\.3\s+uw_l2\s+success/);
    expect(stdout).toMatch(/captured\s+uw_cap\s+success/);
    expect(stdout).toMatch(/single\s+uw_1002\s+success/);
    expect(JSON.parse(readFileSync(join(out, 'captured.json'), 'utf8'))).toMatchObject({
      underwriting_id: 'uw_cap',
      event: 'processing.completed',
    });
  });

  it('reports a poison message as dead-lettered, with its reason, and exits 1', async () => {
    const file = join(scratch, 'poison.json');
    writeFileSync(file, JSON.stringify({ message: { data: Buffer.from('{oops').toString('base64') } }));
    const { code, stdout, stderr } = await cli(['replay', file, '--timeout', '10'], env);
    expect(code).toBe(1);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/poison\s+-\s+dead-lettered/);
    expect(stdout).toMatch(/poison\.json: dead-lettered: not JSON/);
  });

  it('replays without a dead-letter topic to watch: poison shows as no result once --timeout passes', async () => {
    const file = join(scratch, 'poison-unwatched.json');
    writeFileSync(file, JSON.stringify({ message: { data: Buffer.from('{oops').toString('base64') } }));
    const { code, stdout, stderr } = await cli(
      ['replay', file, join(eventsDir, 'uw_1002_org_purchases.json'), '--timeout', '3'],
      { ...env, DEAD_LETTER_TOPIC: uniqueName('no-such-topic') },
    );
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(stdout).toMatch(/uw_1002_org_purchases\s+uw_1002\s+success/);
    expect(stdout).toMatch(/poison-unwatched\s+-\s+no result \(no dead-letter topic to watch\)/);
    expect(stdout).toContain(
      'poison-unwatched.json: no result (no dead-letter topic to watch): no processing.completed within 3 s',
    );
  });

  it('gives up on an event nobody completes after --timeout, naming it', async () => {
    const lonely = uniqueName('nobody-listens');
    const pubsub = emulatorPubSub(host);
    await pubsub.createTopic(lonely);
    await pubsub.close();
    const started = performance.now();
    const { code, stdout, stderr } = await cli(
      ['replay', join(eventsDir, 'uw_1002_org_purchases.json'), '--timeout', '2'],
      { ...env, UNDERWRITING_TOPIC: lonely },
    );
    expect(code).toBe(1);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/uw_1002_org_purchases\.json: no result: no processing\.completed within 2 s/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('removes its temporary subscriptions on Ctrl-C, and gives them a short expiration meanwhile', async () => {
    const pubsub = emulatorPubSub(host);
    const own = {
      COMPLETED_TOPIC: uniqueName('completed-ctrl-c'),
      DEAD_LETTER_TOPIC: uniqueName('dl-ctrl-c'),
    };
    await pubsub.createTopic(own.COMPLETED_TOPIC);
    await pubsub.createTopic(own.DEAD_LETTER_TOPIC);
    const lonely = uniqueName('nobody-listens');
    await pubsub.createTopic(lonely);
    const replaySubscriptions = async () => {
      const found = [];
      for (const topic of [own.COMPLETED_TOPIC, own.DEAD_LETTER_TOPIC]) {
        const [subscriptions] = await pubsub.topic(topic).getSubscriptions();
        found.push(...subscriptions.filter((s) => s.name.includes('/subscriptions/replay-')));
      }
      return found;
    };
    try {
      const child = spawn(
        process.execPath,
        [
          join(repoRoot, 'dist', 'src', 'cli.js'),
          'replay',
          join(eventsDir, 'uw_1002_org_purchases.json'),
          '--timeout',
          '120',
        ],
        {
          cwd: repoRoot,
          env: { PATH: process.env['PATH'] ?? '', ...env, ...own, UNDERWRITING_TOPIC: lonely },
          stdio: 'ignore',
        },
      );
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await expect
        .poll(async () => (await replaySubscriptions()).length, { timeout: 15_000, interval: 200 })
        .toBe(2);
      for (const subscription of await replaySubscriptions()) {
        const [metadata] = await subscription.getMetadata();
        expect(Number(metadata.expirationPolicy?.ttl?.seconds)).toBe(24 * 60 * 60);
      }
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(await replaySubscriptions()).toEqual([]);
    } finally {
      await pubsub.close();
    }
  }, 40_000);

  it('stops with one line for an unreadable file, a bad --timeout, or no arguments', async () => {
    const missing = await cli(['replay', join(scratch, 'nope.json')], env);
    expect(missing.code).toBe(1);
    expect(onlyFatal(missing.stderr).message).toMatch(/nope\.json: cannot read: ENOENT/);
    const broken = join(scratch, 'broken.json');
    writeFileSync(broken, '{"event": ');
    expect(onlyFatal((await cli(['replay', broken], env)).stderr).message).toMatch(/broken\.json: not JSON/);
    expect(onlyFatal((await cli(['replay', eventsDir, '--timeout', 'soon'], env)).stderr)).toMatchObject({
      code: 'USAGE',
      message: '--timeout: soon is not a number of seconds',
    });
    const none = await cli(['replay'], env);
    expect(none.code).toBe(2);
  });
});

describe('replay outside the emulator', () => {
  it('refuses --allow-production without a project, and otherwise targets the emulator dev starts', async () => {
    const refused = await cli(['replay', eventsDir, '--allow-production'], {});
    expect(refused.code).toBe(2);
    expect(onlyFatal(refused.stderr)).toMatchObject({
      code: 'USAGE',
      message: '--allow-production: set GOOGLE_CLOUD_PROJECT to the project to publish to',
    });
  });
});

describe('dev without an emulator', () => {
  it('says in one line that the emulator is missing and how to install it', async () => {
    const { code, stdout, stderr } = await cli(['dev'], { PATH: '/nonexistent' });
    expect(code).toBe(1);
    expect(stdout).toBe('Starting the Pub/Sub and Firestore emulators…\n');
    expect(onlyFatal(stderr)).toMatchObject({ code: 'EMULATOR_UNAVAILABLE' });
    expect(onlyFatal(stderr).message).toMatch(
      /^the Pub\/Sub emulator is not installed .*apt-get install google-cloud-cli-pubsub-emulator/,
    );
  });
});

describe('dev with no PUBSUB_EMULATOR_HOST nor FIRESTORE_EMULATOR_HOST', () => {
  it('starts the installed emulators itself, and stops them when it stops', async () => {
    const dev = startDev({});
    const banner = await dev.ready;
    const started = /Pub\/Sub emulator {2}(127\.0\.0\.1:\d+), project local-project \(started by dev\)/.exec(
      banner,
    );
    expect(started, banner).not.toBeNull();
    const emulatorUrl = `http://${started?.[1] ?? ''}/`;
    const ledger = /ledger {12}firestore: the emulator at (127\.0\.0\.1:\d+), .* \(started by dev\)/.exec(
      banner,
    );
    expect(ledger, banner).not.toBeNull();
    const firestoreUrl = `http://${ledger?.[1] ?? ''}/`;
    expect((await fetch(emulatorUrl)).ok).toBe(true);
    expect((await fetch(firestoreUrl)).ok).toBe(true);
    dev.child.kill('SIGINT');
    expect(await dev.exited).toBe(0);
    await expect(fetch(emulatorUrl)).rejects.toThrow();
    await expect(fetch(firestoreUrl)).rejects.toThrow();
  }, 60_000);
});
