import { spawn, type ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { examplesDir } from '../../src/paths.js';
import { cli, onlyFatal } from '../helpers/cli.js';
import { repoRoot } from '../helpers/fixtures.js';
import { TEST_PROJECT_ID, collectMessages, emulatorPubSub, uniqueName } from '../helpers/pubsub.js';

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
function startDev(
  env: Record<string, string>,
  args: string[] = [],
): {
  child: ChildProcess;
  ready: Promise<string>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli.js'), 'dev', ...args], {
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

/** dev's JSON log lines (its stderr). */
function devLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Topics and a ledger collection of their own for one dev, on the test run's emulators. */
function devEnvironment(tag: string) {
  const topics = {
    UNDERWRITING_TOPIC: uniqueName(`uw-${tag}`),
    COMPLETED_TOPIC: uniqueName(`completed-${tag}`),
    DEAD_LETTER_TOPIC: uniqueName(`dead-letters-${tag}`),
  };
  const env = {
    PUBSUB_EMULATOR_HOST: host,
    FIRESTORE_EMULATOR_HOST: inject('firestoreEmulatorHost'),
    LEDGER_COLLECTION: uniqueName('executions'),
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    ...topics,
  };
  return { topics, env };
}

describe('dev and replay, on the Pub/Sub emulator', () => {
  const { topics, env } = devEnvironment('push');
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

  it('dev says where everything is and how to replay, and takes events by push alone, as on Cloud Run', () => {
    const banner = dev.stdout();
    expect(banner).toMatch(/serving on http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C stops it\)/);
    expect(banner).toContain(`Pub/Sub emulator  ${host}, project ${TEST_PROJECT_ID}\n`);
    expect(banner).toMatch(
      new RegExp(
        `input topic {7}${topics.UNDERWRITING_TOPIC} \\(--transport push\\): pushed to http://127\\.0\\.0\\.1:\\d+/pubsub/push ` +
          `by ${topics.UNDERWRITING_TOPIC}-push, so each event is delivered once\n`,
      ),
    );
    expect(banner).not.toContain('-pull');
    expect(banner).toContain(
      `results           ${topics.COMPLETED_TOPIC}, kept in ${topics.COMPLETED_TOPIC}-sub (gcloud: see docs/running.md)\n`,
    );
    expect(banner).toContain(
      `poison messages   ${topics.DEAD_LETTER_TOPIC}, kept in ${topics.DEAD_LETTER_TOPIC}-sub\n`,
    );
    expect(banner).toContain(
      `PUBSUB_EMULATOR_HOST=${host} GOOGLE_CLOUD_PROJECT=${TEST_PROJECT_ID} npx processor-orchestrator replay examples/events --expect examples/expected`,
    );
    expect(banner).toMatch(/ operations {8}http:\/\/127\.0\.0\.1:\d+\/ops \(OPS_AUTH=disabled\)/);
  });

  it(
    'replays the examples with the results in examples/expected, each delivered once, with no WARNING but their processor failures',
    { timeout: 60_000 },
    async () => {
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
      // Pushed once each: processed once, never retried, nothing to deduplicate.
      const lines = devLines(dev.stderr());
      const processed = lines.filter((l) => l['message'] === 'underwriting processed');
      expect(processed.map((l) => l['underwriting_id']).sort()).toEqual(['uw_1001', 'uw_1002', 'uw_1003']);
      for (const l of processed) expect(l).toMatchObject({ transport: 'push', delivery_attempt: null });
      // The only WARNINGs are the examples' own outcomes (examples/README.md): a processor that is
      // not configured, one not installed, one without a business document.
      const warnings = lines.filter((l) => l['severity'] !== 'INFO' && l['severity'] !== 'DEBUG');
      expect(warnings.map((l) => `${String(l['message'])} ${String(l['processor_id'])}`).sort()).toEqual([
        'processor failed clear_business_report_v1',
        'processor failed example_not_installed_v1',
        'processor failed secretary_of_state_v1',
      ]);
    },
  );

  it(
    'keeps every result on the completed topic’s own subscription, for gcloud to pull',
    { timeout: 60_000 },
    async () => {
      const pubsub = emulatorPubSub(host);
      const results = collectMessages(pubsub.subscription(`${topics.COMPLETED_TOPIC}-sub`));
      try {
        await expect
          .poll(() => results.messages.map((m) => m.attributes['underwriting_id']), { timeout: 45_000 })
          .toEqual(expect.arrayContaining(['uw_1001', 'uw_1002', 'uw_1003']));
      } finally {
        await results.close();
        await pubsub.close();
      }
    },
  );

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

describe('dev --transport both, on the Pub/Sub emulator', () => {
  const { topics, env } = devEnvironment('both');
  let dev: ReturnType<typeof startDev>;

  beforeAll(async () => {
    dev = startDev({ ...env, PROCESSORS_DIR: shippedProcessorsDir() }, ['--transport', 'both']);
    await dev.ready;
  }, 60_000);

  afterAll(async () => {
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toBe(0);
  });

  it(
    'delivers each event by pull and by push, and the ledger runs and publishes it once',
    { timeout: 120_000 },
    async () => {
      expect(dev.stdout()).toContain(
        `pulled from ${topics.UNDERWRITING_TOPIC}-pull and pushed to http://127.0.0.1:`,
      );
      const { code, stdout, stderr } = await cli(['replay', eventsDir, '--expect', expectedDir], env);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain('3 replayed, every result as expected.');
      await expect
        .poll(
          () =>
            devLines(dev.stderr()).filter(
              (l) => l['message'] === 'already published; acked without publishing again',
            ).length,
          { timeout: 30_000 },
        )
        .toBe(3);
      const processed = devLines(dev.stderr()).filter((l) => l['message'] === 'underwriting processed');
      expect(processed.map((l) => l['underwriting_id']).sort()).toEqual(['uw_1001', 'uw_1002', 'uw_1003']);
    },
  );

  it('dead-letters a poison message once, though both paths deliver it', { timeout: 120_000 }, async () => {
    const pubsub = emulatorPubSub(host);
    try {
      const poisonId = await pubsub.topic(topics.UNDERWRITING_TOPIC).publishMessage({
        data: Buffer.from('this is not json {'),
      });
      // Its second delivery (at once, or retried after finding the first one at work) is acked
      // without forwarding it again.
      await expect
        .poll(
          () =>
            devLines(dev.stderr()).filter(
              (l) =>
                l['message'] === 'poison message dead-lettered already; acked without forwarding it again' &&
                l['source_message_id'] === poisonId,
            ).length,
          { timeout: 60_000 },
        )
        .toBe(1);
      // Once both deliveries are done: one dead letter for it, and no other arrives.
      const kept = collectMessages(pubsub.subscription(`${topics.DEAD_LETTER_TOPIC}-sub`));
      try {
        await kept.waitFor(1, 15_000);
        await sleep(2_000);
        expect(kept.messages.filter((m) => m.attributes['source_message_id'] === poisonId)).toHaveLength(1);
      } finally {
        await kept.close();
      }
    } finally {
      await pubsub.close();
    }
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
  it('says in one line that the emulator is missing and how to install it, having started nothing', async () => {
    const { code, stdout, stderr } = await cli(['dev'], { PATH: '/nonexistent' });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(onlyFatal(stderr)).toMatchObject({ code: 'EMULATOR_UNAVAILABLE' });
    expect(onlyFatal(stderr).message).toMatch(
      /^the Pub\/Sub emulator is not installed .*apt-get install google-cloud-cli-pubsub-emulator/,
    );
  });

  it('says at once, with the whole install hint, that the Firestore emulator is missing beside the Pub/Sub one', async () => {
    // An SDK (deep in a folder tree, as a home directory can be) with the Pub/Sub emulator only.
    const sdk = join(mkdtempSync(join(tmpdir(), 'sdk-')), ...Array<string>(12).fill('google-cloud-sdk'));
    const pubsubDir = join(sdk, 'platform', 'pubsub-emulator');
    mkdirSync(join(pubsubDir, '..'), { recursive: true });
    symlinkSync(join(realGcloudSdk(), 'platform', 'pubsub-emulator'), pubsubDir, 'dir');
    const { code, stdout, stderr } = await cli(['dev'], { CLOUDSDK_ROOT_DIR: sdk });
    expect(code).toBe(1);
    // Said before anything was started: dev never said it was starting the Pub/Sub emulator.
    expect(stdout).toBe('');
    const fatal = onlyFatal(stderr);
    expect(fatal.code).toBe('EMULATOR_UNAVAILABLE');
    // The folders it looked in are cut short; what to do is whole.
    expect(fatal.message).toMatch(
      /^the Firestore emulator is not installed \(looked for \/tmp\/sdk-.*…; install it/,
    );
    expect(fatal.message.length).toBeGreaterThan(300);
    expect(fatal.message).toMatch(
      /; install it with: sudo apt-get install google-cloud-cli-firestore-emulator \(or: gcloud components install cloud-firestore-emulator; on Debian without Google's apt repository: deploy\/install-emulator\.sh\)$/,
    );
  });
});

/** The installed Google Cloud SDK's root (the tests need the emulators: deploy/install-emulator.sh). */
function realGcloudSdk(): string {
  const gcloud = (process.env['PATH'] ?? '')
    .split(':')
    .map((dir) => join(dir, 'gcloud'))
    .find((file) => existsSync(file));
  if (!gcloud) throw new Error('gcloud is not on PATH (deploy/install-emulator.sh installs it)');
  return join(realpathSync(gcloud), '..', '..');
}

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
