import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub } from '@google-cloud/pubsub';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';

import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { startFirestoreEmulator } from '../../src/ledger/emulator.js';
import { documentId } from '../../src/ledger/ledger.js';
import { executionConverter } from '../../src/ledger/firestore/converter.js';
import { examplesDir } from '../../src/paths.js';
import { PUSH_PATH } from '../../src/transport/push.js';
import { emulatorFirestore, uniqueCollection } from '../helpers/firestore.js';
import { tallyProcessorsDir } from '../helpers/fixtures.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';
import { killServe, startServe, type ServeProcess } from '../helpers/serve.js';

const pubsubHost = inject('pubsubEmulatorHost');
const firestoreHost = inject('firestoreEmulatorHost');
// Redeliveries of a nacked message wait a little, as the deploy's subscriptions do.
const RETRY_POLICY = { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 2 } };

interface Setup {
  pubsub: PubSub;
  inTopic: string;
  completed: Collector;
  tallyFile: string;
  env: Record<string, string>;
}

let setup: Setup;
let serves: ServeProcess[] = [];

function serve(env: Record<string, string> = {}): ServeProcess {
  const started = startServe({ ...setup.env, ...env });
  serves.push(started);
  return started;
}

const event = (id: string, extra: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      event: 'underwriting.created',
      data: {
        underwriting_id: id,
        documents: ['doc_001'],
        purchased_processors: ['fx_tally', 'fx_tally_slow'],
        ...extra,
      },
    }),
  );

const publish = (data: Buffer) => setup.pubsub.topic(setup.inTopic).publishMessage({ data });

async function subscription(name = uniqueName('uw-sub'), options: Record<string, unknown> = {}) {
  await setup.pubsub.topic(setup.inTopic).createSubscription(name, {
    ackDeadlineSeconds: 10,
    retryPolicy: RETRY_POLICY,
    ...options,
  });
  return name;
}

/** Every run the tally processors counted: processor id → underwriting id → runs. */
async function runs(): Promise<{ processor_id: string; underwriting_id: string; execution_id: string }[]> {
  const text = await readFile(setup.tallyFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { processor_id: string; underwriting_id: string; execution_id: string });
}

async function runCount(processorId: string, underwritingId: string): Promise<number> {
  return (await runs()).filter((r) => r.processor_id === processorId && r.underwriting_id === underwritingId)
    .length;
}

/** Resolves once nothing more arrives on `collector` for `quietMs`; returns what it holds. */
async function settled(collector: Collector, quietMs = 2_000) {
  for (let count = -1; count !== collector.messages.length;) {
    count = collector.messages.length;
    await sleep(quietMs);
  }
  return collector.messages;
}

const underwritingIds = (collector: Collector) =>
  collector.messages.map((m) => ProcessingCompletedSchema.parse(JSON.parse(m.data)).underwriting_id).sort();

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

beforeEach(async () => {
  const pubsub = emulatorPubSub(pubsubHost);
  const inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  await pubsub.createTopic(inTopic);
  const { subscription: outSub } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
  setup = {
    pubsub,
    inTopic,
    completed: collectMessages(outSub),
    tallyFile: join(dir, 'runs.jsonl'),
    env: {
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
      PUBSUB_EMULATOR_HOST: pubsubHost,
      COMPLETED_TOPIC: outTopic,
      PROCESSORS_DIR: tallyProcessorsDir,
      DOCUMENTS_DIR: `${examplesDir}/documents`,
      PROCESSOR_THREADS: '2',
      LEDGER: 'firestore',
      FIRESTORE_EMULATOR_HOST: firestoreHost,
      LEDGER_COLLECTION: uniqueCollection(),
      FX_TALLY_FILE: join(dir, 'runs.jsonl'),
    },
  };
});

afterEach(async () => {
  await Promise.all(serves.map(killServe));
  serves = [];
  await setup.completed.close();
  await setup.pubsub.close();
});

describe('execution ledger, end to end on the Pub/Sub and Firestore emulators', () => {
  it('after a SIGKILL mid-event, a new instance reuses the finished processor and reruns only the other; one publish', async () => {
    const sub = await subscription();
    const first = serve({ UNDERWRITING_SUBSCRIPTION: sub, FX_TALLY_SLOW_MS: '120000' });
    const messageId = await publish(event('uw_killed'));
    await first.waitForLog((l) => l.message === 'fx_tally_slow started');

    // Kill only once the finished run is recorded (its checkpoint, within CHECKPOINT_MS).
    const db = emulatorFirestore(firestoreHost);
    try {
      const ref = db
        .collection(setup.env['LEDGER_COLLECTION'] ?? '')
        .doc(documentId(messageId))
        .withConverter(executionConverter);
      await until('fx_tally recorded', async () => {
        const stored = (await ref.get()).data();
        return stored?.processors['fx_tally'];
      });
    } finally {
      await db.terminate();
    }
    first.child.kill('SIGKILL');
    await first.exited;
    const [firstRun] = (await runs()).filter((r) => r.processor_id === 'fx_tally');

    serve({ UNDERWRITING_SUBSCRIPTION: sub, FX_TALLY_SLOW_MS: '50' });
    // The dead holder's lease (LEASE_MS) runs out, then the redelivery takes over.
    const [message] = await setup.completed.waitFor(1, 75_000);
    const result = ProcessingCompletedSchema.parse(JSON.parse(message?.data ?? ''));
    expect(result.overall_status).toBe('success');
    expect(result.completed_processors.find((p) => p.processor_id === 'fx_tally')?.execution_id).toBe(
      firstRun?.execution_id,
    );
    expect(await runCount('fx_tally', 'uw_killed')).toBe(1);
    expect(await runCount('fx_tally_slow', 'uw_killed')).toBe(2);
    expect(await settled(setup.completed)).toHaveLength(1);
  }, 120_000);

  it.each(['firestore', 'memory'])(
    'LEDGER=%s: the same message through a pull and a push subscription of one topic runs each processor once and is published once',
    async (ledger) => {
      const pull = await subscription();
      const worker = serve({ UNDERWRITING_SUBSCRIPTION: pull, PUSH_AUTH: 'disabled', LEDGER: ledger });
      const port = await worker.port();
      await subscription(uniqueName('uw-push'), {
        pushConfig: { pushEndpoint: `http://127.0.0.1:${port}${PUSH_PATH}` },
      });
      const ids = ['uw_both_1', 'uw_both_2', 'uw_both_3'];
      for (const id of ids) await publish(event(id));

      await setup.completed.waitFor(ids.length, 30_000);
      expect(await settled(setup.completed)).toHaveLength(ids.length);
      expect(underwritingIds(setup.completed)).toEqual(ids);
      for (const id of ids) {
        expect(await runCount('fx_tally', id)).toBe(1);
        expect(await runCount('fx_tally_slow', id)).toBe(1);
      }
      // Both paths delivered every message: the second was acked without publishing again.
      await worker.waitForLog((l) => l.message === 'already published; acked without publishing again');
    },
    60_000,
  );

  it('two instances sharing one Firestore, each pulling its own subscription of one topic: one publish per event, each processor once', async () => {
    const [a, b] = await Promise.all([subscription(), subscription()]);
    serve({ UNDERWRITING_SUBSCRIPTION: a });
    serve({ UNDERWRITING_SUBSCRIPTION: b });
    await Promise.all(serves.map((s) => s.port()));
    const ids = Array.from({ length: 8 }, (_, i) => `uw_shared_${i}`);
    await Promise.all(ids.map((id) => publish(event(id))));

    await setup.completed.waitFor(ids.length, 45_000);
    expect(await settled(setup.completed)).toHaveLength(ids.length);
    expect(underwritingIds(setup.completed)).toEqual(ids.sort());
    for (const id of ids) {
      expect(await runCount('fx_tally', id)).toBe(1);
      expect(await runCount('fx_tally_slow', id)).toBe(1);
    }
  }, 90_000);

  it('a publish that fails (topic missing) and succeeds after the redelivery runs the processors once', async () => {
    const sub = await subscription();
    const missingTopic = uniqueName('not-yet');
    const worker = serve({ UNDERWRITING_SUBSCRIPTION: sub, COMPLETED_TOPIC: missingTopic });
    await publish(event('uw_publish_later'));
    await worker.waitForLog((l) => l['code'] === 'PUBLISH_FAILED' && l['verdict'] === 'nack');

    const { subscription: out } = await createTopicWithSubscription(
      setup.pubsub,
      missingTopic,
      `${missingTopic}-sub`,
    );
    const completed = collectMessages(out);
    try {
      await completed.waitFor(1, 30_000);
      expect(await settled(completed)).toHaveLength(1);
    } finally {
      await completed.close();
    }
    expect(await runCount('fx_tally', 'uw_publish_later')).toBe(1);
    expect(await runCount('fx_tally_slow', 'uw_publish_later')).toBe(1);
  }, 60_000);

  it('with Firestore stopped mid-stream, nacks and publishes nothing; after a restart on the same port every event completes once', async () => {
    const own = await startFirestoreEmulator();
    const port = Number(own.host.split(':')[1]);
    let restarted: Awaited<ReturnType<typeof startFirestoreEmulator>> | undefined;
    try {
      const sub = await subscription();
      const worker = serve({ UNDERWRITING_SUBSCRIPTION: sub, FIRESTORE_EMULATOR_HOST: own.host });
      const http = `http://127.0.0.1:${await worker.port()}`;
      const before = ['uw_up_1', 'uw_up_2'];
      for (const id of before) await publish(event(id));
      await setup.completed.waitFor(before.length, 30_000);

      await own.stop();
      const during = ['uw_down_1', 'uw_down_2', 'uw_down_3'];
      for (const id of during) await publish(event(id));
      await worker.waitForLog((l) => l['code'] === 'LEDGER_UNAVAILABLE' && l['verdict'] === 'nack', 30_000);
      const notReady = await until('readyz names the ledger', async () => {
        const response = await fetch(`${http}/readyz`);
        const body = (await response.json()) as { problems?: Record<string, string> };
        return response.status === 503 && body.problems?.['ledger'] ? body : undefined;
      });
      expect(notReady.problems?.['ledger']).toBeTruthy();
      await sleep(2_000);
      expect(setup.completed.messages).toHaveLength(before.length);
      for (const id of during) expect(await runCount('fx_tally', id)).toBe(0);

      restarted = await startFirestoreEmulator({ port });
      await setup.completed.waitFor(before.length + during.length, 60_000);
      expect(await settled(setup.completed)).toHaveLength(before.length + during.length);
      expect(underwritingIds(setup.completed)).toEqual([...before, ...during].sort());
      await until('ready again', async () =>
        (await fetch(`${http}/readyz`)).status === 200 ? true : undefined,
      );
    } finally {
      await own.stop();
      await restarted?.stop();
    }
  }, 150_000);
});
