import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { examplesDir } from '../../src/paths.js';
import { startService, type Service } from '../../src/service.js';
import { PUSH_BODY_LIMIT_BYTES, PUSH_PATH } from '../../src/transport/push.js';
import { capturingLog, fixtureProcessorsDir, ULID } from '../helpers/fixtures.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import { AUDIENCE, PUSH_SA, startTestIssuer, unsignedToken, type TestIssuer } from '../helpers/oidc.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';

const host = inject('pubsubEmulatorHost');

interface Running {
  service: Service;
  base: string;
  lines: Record<string, unknown>[];
}

let pubsub: PubSub;
let issuer: TestIssuer;
let completedTopic: string;
let deadLetterTopic: string;
let completed: Collector;
let deadLettered: Collector;
let running: Running[] = [];

async function serve(env: Record<string, string> = {}): Promise<Running> {
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PUBSUB_EMULATOR_HOST: host,
    COMPLETED_TOPIC: completedTopic,
    DEAD_LETTER_TOPIC: deadLetterTopic,
    PROCESSORS_DIR: fixtureProcessorsDir,
    DOCUMENTS_DIR: `${examplesDir}/documents`,
    PROCESSOR_THREADS: '2',
    PORT: '0',
    PUSH_AUDIENCE: AUDIENCE,
    PUSH_SERVICE_ACCOUNT: PUSH_SA,
    PUSH_JWKS_URL: issuer.jwksUrl,
    ...env,
  });
  const { log, lines } = capturingLog();
  const service = await startService(config, log, '127.0.0.1');
  const started = { service, base: `http://127.0.0.1:${service.port}`, lines };
  running.push(started);
  return started;
}

const eventData = (id: string, purchased: string[]) =>
  JSON.stringify({
    event: 'underwriting.created',
    data: { underwriting_id: id, documents: ['doc_001'], purchased_processors: purchased },
  });

let messageCounter = 0;

/** A push body as Pub/Sub sends it, with a message id of its own. */
const envelope = (data: string | Buffer, attributes: Record<string, string> = {}) =>
  pushEnvelope(data, {
    messageId: `push-${process.pid}-${(messageCounter += 1)}`,
    attributes,
    deliveryAttempt: 1,
  });

const authorized = async () => ({ authorization: `Bearer ${await issuer.sign()}` });

/** Waits until nothing more arrives on `collector` for `quietMs`; returns what it holds. */
async function settled(collector: Collector, quietMs = 1_000) {
  for (let count = -1; count !== collector.messages.length;) {
    count = collector.messages.length;
    await sleep(quietMs);
  }
  return collector.messages;
}

beforeAll(async () => {
  issuer = await startTestIssuer();
});

afterAll(async () => {
  await issuer.close();
});

beforeEach(async () => {
  pubsub = emulatorPubSub(host);
  completedTopic = uniqueName('completed');
  deadLetterTopic = uniqueName('dead-letter');
  const out = await createTopicWithSubscription(pubsub, completedTopic, `${completedTopic}-sub`);
  const dl = await createTopicWithSubscription(pubsub, deadLetterTopic, `${deadLetterTopic}-sub`);
  completed = collectMessages(out.subscription);
  deadLettered = collectMessages(dl.subscription);
});

afterEach(async () => {
  await Promise.all(running.map(({ service }) => service.stop('test over')));
  running = [];
  await completed.close();
  await deadLettered.close();
  await pubsub.close();
});

describe('POST /pubsub/push, on a real server and the Pub/Sub emulator', () => {
  it('answers 204 once processing.completed is published, exactly once', async () => {
    const { base, lines } = await serve();
    const body = envelope(eventData('uw_push_1', ['fx_ok', 'fx_throw']), { origin: 'test' });
    const res = await postPush(base, body, await authorized());
    expect(res.status).toBe(204);
    // Published before the answer: it is already there.
    const [message] = await completed.waitFor(1, 5_000);
    const result = ProcessingCompletedSchema.parse(JSON.parse(message!.data));
    expect(result.underwriting_id).toBe('uw_push_1');
    expect(result.overall_status).toBe('partial_success');
    expect(result.completed_processors[0]?.execution_id).toMatch(ULID);
    expect(message!.attributes).toEqual({
      event_type: 'processing.completed',
      underwriting_id: 'uw_push_1',
      source_message_id: body.message.messageId,
    });
    expect(await settled(completed)).toHaveLength(1);
    expect(lines.filter((l) => l['message'] === 'underwriting processed')).toEqual([
      expect.objectContaining({ transport: 'push', source_message_id: body.message.messageId }),
    ]);
  });

  it('refuses every forged or misdirected token, publishing nothing and logging no token', async () => {
    const { base, lines } = await serve();
    const stranger = await issuer.strangerKey();
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Record<string, string>, number][] = [
      ['no header', {}, 401],
      ['garbage', { authorization: 'Bearer not.a.jwt' }, 401],
      ['alg none', { authorization: `Bearer ${unsignedToken()}` }, 401],
      ['unknown key', { authorization: `Bearer ${await issuer.sign({ key: stranger, kid: 'k2' })}` }, 401],
      [
        'wrong audience',
        { authorization: `Bearer ${await issuer.sign({ claims: { aud: 'https://x.example' } })}` },
        401,
      ],
      [
        'expired',
        { authorization: `Bearer ${await issuer.sign({ claims: { iat: now - 7200, exp: now - 600 } })}` },
        401,
      ],
      [
        'wrong issuer',
        { authorization: `Bearer ${await issuer.sign({ claims: { iss: 'https://evil.example' } })}` },
        401,
      ],
      [
        'wrong email',
        {
          authorization: `Bearer ${await issuer.sign({ claims: { email: 'x@y.iam.gserviceaccount.com' } })}`,
        },
        403,
      ],
      [
        'unverified email',
        { authorization: `Bearer ${await issuer.sign({ claims: { email_verified: false } })}` },
        403,
      ],
    ];
    for (const [name, headers, status] of cases) {
      const res = await postPush(base, envelope(eventData(`uw_forged_${name}`, ['fx_ok'])), headers);
      expect({ name, status: res.status }).toEqual({ name, status });
      if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }
    expect(await settled(completed)).toEqual([]);
    expect(deadLettered.messages).toEqual([]);
    const refusals = lines.filter((l) => l['message'] === 'push refused');
    expect(refusals).toHaveLength(cases.length);
    const logged = JSON.stringify(lines);
    for (const [, headers] of cases) {
      const token = headers['authorization']?.slice('Bearer '.length);
      if (token) expect(logged).not.toContain(token);
    }
  });

  it('dead-letters a poison message once and answers 204, so Pub/Sub does not retry it', async () => {
    const { base } = await serve();
    const body = envelope('{"event": "underwriting.created", "data": ', { source: 'bad-producer' });
    const res = await postPush(base, body, await authorized());
    expect(res.status).toBe(204);
    const [letter] = await deadLettered.waitFor(1, 5_000);
    expect(letter!.data).toBe('{"event": "underwriting.created", "data": ');
    expect(letter!.attributes).toMatchObject({
      source: 'bad-producer',
      source_message_id: body.message.messageId,
      error_reason: expect.stringMatching(/JSON/) as string,
    });
    expect(await settled(deadLettered)).toHaveLength(1);
    expect(completed.messages).toEqual([]);
  });

  it('answers 400 to a body that is not a push envelope, 415 to one that is not JSON, and 413 past the largest message', async () => {
    const { base, lines } = await serve();
    const headers = await authorized();
    const valid = envelope(eventData('uw_never', ['fx_ok']));
    const malformed: [string, unknown][] = [
      ['no message', { subscription: 's' }],
      ['no messageId', { ...valid, message: { ...valid.message, messageId: undefined } }],
      ['data not base64', { ...valid, message: { ...valid.message, data: '***' } }],
      ['attributes not strings', { ...valid, message: { ...valid.message, attributes: { a: 1 } } }],
      ['bad publishTime', { ...valid, message: { ...valid.message, publishTime: 'yesterday' } }],
      ['unparseable JSON', '{"message": '],
      ['an array', '[]'],
    ];
    for (const [name, body] of malformed) {
      const res = await postPush(base, body, headers);
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
    }
    const text = await postPush(base, 'hi', { ...headers, 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    const oversized = await postPush(base, `{"pad":"${'x'.repeat(PUSH_BODY_LIMIT_BYTES)}"}`, headers);
    expect(oversized.status).toBe(413);
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: 'request refused',
        status: 413,
        code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      }),
    );
    // The largest message Pub/Sub can push still fits.
    const largest = envelope(Buffer.alloc(10 * 1024 * 1024, 'a'));
    expect((await postPush(base, largest, headers)).status).toBe(204);
    await deadLettered.waitFor(1, 10_000);
    expect(await settled(completed)).toEqual([]);
    expect(
      lines.filter((l) => l['message'] === 'push refused: not a Pub/Sub push envelope').length,
    ).toBeGreaterThanOrEqual(5);
  });

  it('answers 503 when processing.completed cannot be published, so Pub/Sub retries', async () => {
    const { base, lines } = await serve({ COMPLETED_TOPIC: uniqueName('missing-topic') });
    const res = await postPush(base, envelope(eventData('uw_retry', ['fx_ok'])), await authorized());
    expect(res.status).toBe(503);
    expect(lines).toContainEqual(
      expect.objectContaining({
        code: 'PUBLISH_FAILED',
        verdict: 'nack',
        transport: 'push',
        delivery_attempt: 1,
      }),
    );
  });

  it('refuses every push with 503 when auth is required but no audience is set, and says why at start', async () => {
    const { base, lines } = await serve({ PUSH_AUDIENCE: '' });
    expect(lines.map((l) => l['message'])).toContainEqual(
      expect.stringMatching(/^push is not configured: PUSH_AUDIENCE not set/),
    );
    const res = await postPush(base, envelope(eventData('uw_noaud', ['fx_ok'])), await authorized());
    expect(res.status).toBe(503);
    expect(await settled(completed)).toEqual([]);
  });

  it('warns at start when an event can outlive the push ack deadline, and only then', async () => {
    const budgetWarning = (l: Record<string, unknown>) =>
      typeof l['message'] === 'string' && l['message'].includes('PUSH_ACK_DEADLINE_SECONDS');
    const fits = await serve();
    expect(fits.lines.filter(budgetWarning)).toEqual([]);
    const tight = await serve({ PUSH_ACK_DEADLINE_SECONDS: '30' });
    expect(tight.lines.filter(budgetWarning)).toEqual([
      expect.objectContaining({ severity: 'WARNING', push_ack_deadline_s: 30, publish_s: 60 }),
    ]);
  });

  it('takes pushes from a real emulator push subscription end to end', async () => {
    const { base } = await serve({ PUSH_AUTH: 'disabled' });
    const topicName = uniqueName('uw-created');
    const [topic] = await pubsub.createTopic(topicName);
    await topic.createSubscription(`${topicName}-push`, {
      pushConfig: { pushEndpoint: `${base}${PUSH_PATH}` },
    });
    const id = await topic.publishMessage({ data: Buffer.from(eventData('uw_emulator_push', ['fx_ok'])) });
    const [message] = await completed.waitFor(1, 15_000);
    expect(JSON.parse(message!.data)).toMatchObject({
      underwriting_id: 'uw_emulator_push',
      overall_status: 'success',
    });
    expect(message!.attributes['source_message_id']).toBe(id);
    expect(await settled(completed, 2_000)).toHaveLength(1);
  });
});
