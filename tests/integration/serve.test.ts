import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub, Subscription } from '@google-cloud/pubsub';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';

import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { examplesDir } from '../../src/paths.js';
import { admissionProcessorsDir, fixtureProcessorsDir, ULID } from '../helpers/fixtures.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';
import { killServe, startServe, type ServeProcess } from '../helpers/serve.js';

const host = inject('pubsubEmulatorHost');

interface Setup {
  pubsub: PubSub;
  inTopic: string;
  inSubscription: Subscription;
  outTopic: string;
  completed: Collector;
  deadLetterTopic: string;
  deadLettered: Collector;
  env: Record<string, string>;
}

let setup: Setup;
let serves: ServeProcess[] = [];

function serve(env: Record<string, string> = {}): ServeProcess {
  const started = startServe({ ...setup.env, ...env });
  serves.push(started);
  return started;
}

const event = (id: string, purchased: string[], documents = ['doc_001']) =>
  Buffer.from(
    JSON.stringify({
      event: 'underwriting.created',
      data: { underwriting_id: id, documents, purchased_processors: purchased },
    }),
  );

const publish = (data: Buffer, attributes: Record<string, string> = {}) =>
  setup.pubsub.topic(setup.inTopic).publishMessage({ data, attributes });

/** Resolves once nothing more arrives on `collector` for `quietMs`; returns what it holds. */
async function settled(collector: Collector, quietMs = 1_500) {
  for (let count = -1; count !== collector.messages.length;) {
    count = collector.messages.length;
    await sleep(quietMs);
  }
  return collector.messages;
}

/** Sends SIGTERM once fx_sleep has started; expects exit 0 within Cloud Run's 10 s grace. */
async function sigtermOnceStarted(worker: ServeProcess): Promise<void> {
  await worker.waitForLog((l) => l.message === 'fx_sleep started');
  const signalledAt = performance.now();
  worker.child.kill('SIGTERM');
  const { code, at } = await worker.exited;
  expect(code).toBe(0);
  expect(at - signalledAt).toBeLessThan(10_000);
}

/** Every message still on the input subscription (after a clean stop: what was not acked). */
async function leftOnInput(): Promise<number> {
  const left = collectMessages(setup.inSubscription);
  await sleep(1_500);
  await left.close();
  return left.messages.length;
}

beforeEach(async () => {
  const pubsub = emulatorPubSub(host);
  const inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  const deadLetterTopic = uniqueName('dead-letter');
  const { subscription: inSubscription } = await createTopicWithSubscription(
    pubsub,
    inTopic,
    `${inTopic}-sub`,
    { ackDeadlineSeconds: 10 },
  );
  const { subscription: outSub } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  const { subscription: dlSub } = await createTopicWithSubscription(
    pubsub,
    deadLetterTopic,
    `${deadLetterTopic}-sub`,
  );
  setup = {
    pubsub,
    inTopic,
    inSubscription,
    outTopic,
    completed: collectMessages(outSub),
    deadLetterTopic,
    deadLettered: collectMessages(dlSub),
    env: {
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
      PUBSUB_EMULATOR_HOST: host,
      UNDERWRITING_SUBSCRIPTION: `${inTopic}-sub`,
      COMPLETED_TOPIC: outTopic,
      DEAD_LETTER_TOPIC: deadLetterTopic,
      PROCESSORS_DIR: fixtureProcessorsDir,
      DOCUMENTS_DIR: `${examplesDir}/documents`,
      PROCESSOR_THREADS: '2',
    },
  };
});

afterEach(async () => {
  await Promise.all(serves.map(killServe));
  serves = [];
  await setup.completed.close();
  await setup.deadLettered.close();
  await setup.pubsub.close();
});

describe('serve pulling from the Pub/Sub emulator', () => {
  it('publishes one grouped processing.completed per event, then acks it', async () => {
    const worker = serve();
    const port = await worker.port();
    const id = await publish(event('uw_e2e', ['fx_ok', 'fx_throw', 'fx_spin'], ['doc_001', 'doc_nope']));

    const [message] = await setup.completed.waitFor(1, 15_000);
    expect(message?.attributes).toEqual({
      event_type: 'processing.completed',
      underwriting_id: 'uw_e2e',
      source_message_id: id,
    });
    const result = ProcessingCompletedSchema.parse(JSON.parse(message?.data ?? ''));
    expect(result.overall_status).toBe('partial_success');
    expect(result.completed_processors.map((p) => p.processor_id)).toEqual(['fx_ok']);
    expect(result.failed_processors.map((p) => p.processor_id)).toEqual(['fx_throw']);
    expect(result.timeout_processors.map((p) => p.processor_id)).toEqual(['fx_spin']);
    for (const p of [
      ...result.completed_processors,
      ...result.failed_processors,
      ...result.timeout_processors,
    ]) {
      expect(p.execution_id).toMatch(ULID);
    }

    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);

    const outcome = await worker.waitForLog((l) => l.message === 'underwriting processed');
    expect(outcome).toMatchObject({
      severity: 'INFO',
      underwriting_id: 'uw_e2e',
      source_message_id: id,
      transport: 'pull',
      completed_count: 1,
      failed_count: 1,
      timeout_count: 1,
      missing_documents: [{ id: 'doc_nope', reason: 'not found' }],
    });
    expect(worker.logs.filter((l) => l.severity === 'WARNING').map((l) => l['processor_id'])).toEqual(
      expect.arrayContaining(['fx_throw', 'fx_spin']),
    );

    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(await settled(setup.completed)).toHaveLength(1);
    expect(await leftOnInput()).toBe(0);
  });

  it('dead-letters each poison message exactly once with its reason, acks it, and goes on', async () => {
    const worker = serve();
    const notJson = await publish(Buffer.from('{"event": "underwriting.created",'), { origin: 'test' });
    const badSchema = await publish(
      Buffer.from(JSON.stringify({ event: 'underwriting.created', data: { documents: 'doc_001' } })),
    );
    const unknownEvent = await publish(Buffer.from(JSON.stringify({ event: 'underwriting.deleted' })));
    const valid = await publish(event('uw_after_poison', ['fx_ok']));

    await setup.deadLettered.waitFor(3, 15_000);
    await setup.completed.waitFor(1, 15_000);
    const dead = await settled(setup.deadLettered);
    expect(dead).toHaveLength(3);
    const bySource = new Map(dead.map((m) => [m.attributes['source_message_id'], m]));
    expect(bySource.get(notJson)).toMatchObject({
      data: '{"event": "underwriting.created",',
      attributes: { origin: 'test', error_reason: expect.stringMatching(/^not JSON: /) as string },
    });
    expect(bySource.get(badSchema)?.attributes['error_reason']).toMatch(
      /^invalid underwriting\.created: data\.underwriting_id: .*; data\.documents: /,
    );
    expect(bySource.get(unknownEvent)?.attributes['error_reason']).toBe(
      'unknown event "underwriting.deleted"',
    );
    expect(setup.completed.messages.map((m) => m.attributes['source_message_id'])).toEqual([valid]);
    // Logged as each is forwarded: a line may reach this process after the message reached the topic.
    await vi.waitFor(
      () => expect(worker.logs.filter((l) => l.message === 'poison message dead-lettered')).toHaveLength(3),
      { timeout: 30_000, interval: 50 },
    );

    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(await leftOnInput()).toBe(0);
  });

  it('logs a poison message whole at ERROR and acks it when no dead-letter topic is set', async () => {
    const worker = serve({ DEAD_LETTER_TOPIC: '' });
    const id = await publish(Buffer.from('not json'), { origin: 'test' });
    const line = await worker.waitForLog((l) => l.source_message_id === id);
    expect(line).toMatchObject({
      severity: 'ERROR',
      attributes: { origin: 'test' },
      data_base64: Buffer.from('not json').toString('base64'),
      error_reason: expect.stringMatching(/^not JSON/) as string,
    });
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(await leftOnInput()).toBe(0);
    expect(setup.deadLettered.messages).toHaveLength(0);
  });

  it('redelivers an event to a new instance when the first is killed mid-event', async () => {
    const first = serve({ FX_SLEEP_MS: '60000' });
    const id = await publish(event('uw_killed', ['fx_sleep']));
    await first.waitForLog((l) => l.message === 'fx_sleep started');
    first.child.kill('SIGKILL');
    await first.exited;

    // Redelivered once the killed instance's lease runs out (ack deadline 10 s). The emulator
    // notices that at its own pace: 10 to 30-odd seconds after the kill, as measured here.
    const second = serve({ FX_SLEEP_MS: '10' });
    const [message] = await setup.completed.waitFor(1, 60_000);
    expect(message?.attributes['source_message_id']).toBe(id);
    expect(JSON.parse(message?.data ?? '')).toMatchObject({ overall_status: 'success' });
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(await settled(setup.completed)).toHaveLength(1);
  }, 90_000);

  it('on SIGTERM finishes the event in flight, publishes it once and exits 0', async () => {
    const worker = serve({ FX_SLEEP_MS: '2000' });
    const id = await publish(event('uw_sigterm_finish', ['fx_sleep']));
    await sigtermOnceStarted(worker);
    const completed = await settled(setup.completed);
    expect(completed.map((m) => m.attributes['source_message_id'])).toEqual([id]);
    expect(worker.logs.find((l) => l.message === 'stopped')).toMatchObject({ abandoned: 0 });
    expect(await leftOnInput()).toBe(0);
  });

  it('on SIGTERM nacks an event that cannot finish in time, exits 0 within 10 s, and it completes once elsewhere', async () => {
    const worker = serve({ FX_SLEEP_MS: '60000' });
    const id = await publish(event('uw_sigterm_abandon', ['fx_sleep']));
    await sigtermOnceStarted(worker);
    expect(worker.logs.find((l) => l.message === 'stopped; unfinished events were nacked')).toMatchObject({
      abandoned: 1,
    });
    expect(setup.completed.messages).toHaveLength(0);

    const next = serve({ FX_SLEEP_MS: '10' });
    const [message] = await setup.completed.waitFor(1, 15_000);
    expect(message?.attributes['source_message_id']).toBe(id);
    next.child.kill('SIGTERM');
    expect((await next.exited).code).toBe(0);
    expect(await settled(setup.completed)).toHaveLength(1);
  }, 60_000);

  it('nacks while the completed topic is missing, then completes once it exists', async () => {
    const missingTopic = uniqueName('not-yet');
    const worker = serve({ COMPLETED_TOPIC: missingTopic });
    const port = await worker.port();
    const notReady = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({
      problems: { publisher: expect.stringContaining('does not exist') as string },
    });

    const id = await publish(event('uw_topic_later', ['fx_ok']));
    await worker.waitForLog((l) => l['code'] === 'PUBLISH_FAILED' && l.verdict === 'nack');

    // Frozen while the topic and its subscription are created, no publish can fall between them.
    worker.child.kill('SIGSTOP');
    const { subscription } = await createTopicWithSubscription(
      setup.pubsub,
      missingTopic,
      `${missingTopic}-sub`,
    );
    const completed = collectMessages(subscription);
    worker.child.kill('SIGCONT');
    try {
      const [message] = await completed.waitFor(1, 20_000);
      expect(message?.attributes['source_message_id']).toBe(id);
      worker.child.kill('SIGTERM');
      expect((await worker.exited).code).toBe(0);
      expect(await settled(completed)).toHaveLength(1);
    } finally {
      await completed.close();
    }
  }, 60_000);

  it('holds only what it can start: a backlog it must run one at a time is shared with a second instance', async () => {
    // fx_one_at_a_time runs one at a time on an instance, for 3 s: an instance that took the whole
    // backlog at once (as a fixed flow-control window of 32 would) would leave nothing to the other.
    const env = { PROCESSORS_DIR: admissionProcessorsDir, FX_ONE_MS: '3000' };
    const first = serve(env);
    await first.port();
    const ids = await Promise.all(
      Array.from({ length: 8 }, (_, i) => publish(event(`uw_backlog_${i}`, ['fx_one_at_a_time']))),
    );
    await first.waitForLog((l) => l.message === 'fx_one_at_a_time started');
    const second = serve(env);

    const completed = await setup.completed.waitFor(8, 60_000);
    expect(completed.map((m) => m.attributes['source_message_id']).sort()).toEqual([...ids].sort());
    const processedBy = (worker: ServeProcess) =>
      worker.logs.filter((l) => l.message === 'underwriting processed').length;
    // The second instance started while the first was on its first event of eight (it holds
    // three: the one running and two waiting); it finds the rest still in Pub/Sub.
    expect(processedBy(second)).toBeGreaterThanOrEqual(2);
    expect(processedBy(first) + processedBy(second)).toBe(8);
    for (const worker of [first, second]) worker.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect((await second.exited).code).toBe(0);
    expect(await settled(setup.completed)).toHaveLength(8);
    expect(await leftOnInput()).toBe(0);
  }, 90_000);

  it('stops with exit 1 and one line naming the subscription when it does not exist', async () => {
    const worker = serve({ UNDERWRITING_SUBSCRIPTION: uniqueName('no-such-sub') });
    const { code } = await worker.exited;
    expect(code).toBe(1);
    expect(worker.logs.find((l) => l['code'] === 'PULL_FAILED')?.message).toMatch(
      /^pulling from projects\/test-project\/subscriptions\/no-such-sub-\S+: Subscription does not exist/,
    );
  });
});
