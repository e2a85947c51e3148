import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub } from '@google-cloud/pubsub';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';

import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import { createCompletedPublisher } from '../../src/transport/publisher.js';
import { capturingLog } from '../helpers/fixtures.js';
import {
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';

const host = inject('pubsubEmulatorHost');

const result = (id: string): ProcessingCompleted => ({
  event: 'processing.completed',
  underwriting_id: id,
  completed_at: new Date().toISOString(),
  overall_status: 'success',
  summary: {
    total_processors: 0,
    completed_count: 0,
    failed_count: 0,
    timeout_count: 0,
    total_execution_time: 0,
  },
  completed_processors: [],
  failed_processors: [],
  timeout_processors: [],
});

/** A client that is handed over only when `load` is called: a client library still loading. */
function gatedClient(pubsub: PubSub) {
  let load: () => void = () => {};
  const loaded = new Promise<void>((resolve) => (load = resolve));
  let asked = 0;
  return {
    client: async () => {
      asked += 1;
      await loaded;
      return pubsub;
    },
    load: () => load(),
    asked: () => asked,
  };
}

let pubsub: PubSub;
let topic: string;
let completed: Collector;

beforeEach(async () => {
  pubsub = emulatorPubSub(host);
  topic = uniqueName('completed');
  const { subscription } = await createTopicWithSubscription(pubsub, topic, `${topic}-sub`);
  completed = collectMessages(subscription);
});

afterEach(async () => {
  await completed.close();
  await pubsub.close();
});

describe('the completed publisher, when its client loads after the service is ready (push-only serve)', () => {
  it('holds a publish asked for before the client has loaded, then publishes it once', async () => {
    const { log } = capturingLog();
    const gate = gatedClient(pubsub);
    const publisher = createCompletedPublisher(gate.client, topic, log);
    expect(publisher.connecting()).toBe(true);
    expect(publisher.notReady()).toBe('not connected to Pub/Sub yet');

    let published: string | undefined;
    const publishing = publisher.publish(result('uw_before_warm'), 'source-1').then((id) => (published = id));
    const warming = publisher.warm();
    await sleep(300);
    // Nothing is stored yet, so nothing may be acked yet: the caller is still waiting.
    expect(published).toBeUndefined();
    expect(completed.messages).toHaveLength(0);
    expect(publisher.connecting()).toBe(true);

    gate.load();
    await Promise.all([publishing, warming]);
    expect(published).toMatch(/\S/);
    expect(publisher.connecting()).toBe(false);
    expect(publisher.notReady()).toBeUndefined();
    const [message] = await completed.waitFor(1);
    expect(message?.attributes).toMatchObject({
      source_message_id: 'source-1',
      underwriting_id: 'uw_before_warm',
    });
    // The topic is made once, however many callers asked for the client.
    expect(gate.asked()).toBe(1);
    await sleep(500);
    expect(completed.messages).toHaveLength(1);
    publisher.close();
  });

  it('once connected to a topic that does not exist, is not ready, says so once in the log, and fails a publish as retryable', async () => {
    const { log, lines } = capturingLog();
    const missing = uniqueName('missing');
    const publisher = createCompletedPublisher(() => Promise.resolve(pubsub), missing, log);
    await publisher.warm();
    expect(publisher.connecting()).toBe(false);
    expect(publisher.notReady()).toBe(`topic projects/test-project/topics/${missing} does not exist`);
    const logged = lines.filter((l) => String(l['message']).startsWith('publisher not ready'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ topic: `projects/test-project/topics/${missing}` });

    await expect(publisher.publish(result('uw_missing'), 'source-2')).rejects.toMatchObject({
      code: 'PUBLISH_FAILED',
      retryable: true,
    });
    publisher.close();
  });

  it('stopped while it connects, says nothing of the client closing under it', async () => {
    const { log, lines } = capturingLog();
    // Its own client: closed here as the service closes its own, just after the publisher.
    const own = emulatorPubSub(host);
    const gate = gatedClient(own);
    const publisher = createCompletedPublisher(gate.client, topic, log);
    const warming = publisher.warm();
    publisher.close();
    await own.close();
    gate.load();
    await warming;
    expect(publisher.notReady()).toBeDefined();
    expect(lines.filter((l) => l['severity'] === 'ERROR')).toEqual([]);
  });
});
