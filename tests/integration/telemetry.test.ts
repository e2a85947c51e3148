import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';

import { startDocumentServer, type DocumentServer } from '../helpers/document-server.js';
import { uniqueCollection } from '../helpers/firestore.js';
import { repoRoot } from '../helpers/fixtures.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
  type ReceivedMessage,
} from '../helpers/pubsub.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import { killServe, startServe, type LogLine, type ServeProcess } from '../helpers/serve.js';

const host = inject('pubsubEmulatorHost');
const firestoreHost = inject('firestoreEmulatorHost');
const processorsDir = join(repoRoot, 'tests', 'fixtures', 'telemetry-processors');
const SPAN_KIND = { internal: 1, client: 3, producer: 4, consumer: 5 } as const;
const TRACE_FIELD = 'logging.googleapis.com/trace';

let pubsub: PubSub;
let receiver: OtlpReceiver;
let documents: DocumentServer;
/** The server fx_call calls from its worker thread: it answers with the traceparent it got. */
let called: Server;
let calledUrl: string;
let inTopic: string;
let completedTopic: string;
let deadLetterTopic: string;
let completed: Collector;
let serves: ServeProcess[] = [];

const newTraceId = () => randomBytes(16).toString('hex');
const traceparent = (traceId: string) => `00-${traceId}-${randomBytes(8).toString('hex')}-01`;

const eventData = (id: string, purchased: string[], docs = ['doc_call']) =>
  Buffer.from(
    JSON.stringify({
      event: 'underwriting.created',
      data: { underwriting_id: id, documents: docs, purchased_processors: purchased },
    }),
  );

function serve(env: Record<string, string> = {}): ServeProcess {
  const started = startServe({
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PUBSUB_EMULATOR_HOST: host,
    UNDERWRITING_SUBSCRIPTION: `${inTopic}-sub`,
    COMPLETED_TOPIC: completedTopic,
    DEAD_LETTER_TOPIC: deadLetterTopic,
    PROCESSORS_DIR: processorsDir,
    DOCUMENTS_URL: documents.url,
    DOCUMENTS_ATTEMPTS: '3',
    PROCESSOR_THREADS: '2',
    PROCESSOR_TIMEOUT_GRACE_MS: '100',
    PUSH_AUTH: 'disabled',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_METRIC_EXPORT_INTERVAL: '300',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...env,
  });
  serves.push(started);
  return started;
}

/** The `nth` (1-based) processing.completed published for `underwritingId`. */
async function completedFor(underwritingId: string, nth = 1): Promise<ReceivedMessage> {
  for (let count = 1; ; count++) {
    const messages = await completed.waitFor(count, 30_000);
    const found = messages.filter((m) => m.attributes['underwriting_id'] === underwritingId);
    if (found.length >= nth) return found[nth - 1] as ReceivedMessage;
  }
}

const traceOf = (attribute: string | undefined) =>
  /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(attribute ?? '')?.[1];

/** The spans of `traceId` once every name in `names` is among them. */
function spansOf(traceId: string, names: (string | RegExp)[], timeoutMs?: number): Promise<ReceivedSpan[]> {
  return receiver.waitFor(
    () => {
      const spans = receiver.spans.filter((s) => s.traceId === traceId);
      const has = (name: string | RegExp) =>
        spans.some((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
      return names.every(has) && spans;
    },
    `spans ${names.join(', ')} of trace ${traceId}`,
    timeoutMs,
  );
}

function only(spans: ReceivedSpan[], match: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(match);
  expect(found.length, `${what} in ${JSON.stringify(spans.map((s) => s.name))}`).toBe(1);
  return found[0] as ReceivedSpan;
}

beforeAll(async () => {
  pubsub = emulatorPubSub(host);
  receiver = await startOtlpReceiver();
  called = createServer((request, response) => response.end(request.headers['traceparent'] ?? ''));
  called.listen(0, '127.0.0.1');
  await new Promise((resolve) => called.once('listening', resolve));
  calledUrl = `http://127.0.0.1:${(called.address() as AddressInfo).port}/echo`;
  documents = await startDocumentServer({
    documents: {
      doc_call: {
        document_id: 'doc_call',
        document_type: 'bank_statement',
        metadata: { call_url: calledUrl },
      },
    },
    // The first request for doc_flaky fails: a retry.
    faults: { doc_flaky: [503] },
  });
});

afterAll(async () => {
  await Promise.all([receiver.close(), documents.close(), new Promise((resolve) => called.close(resolve))]);
  await pubsub.close();
});

beforeEach(async () => {
  inTopic = uniqueName('uw-created');
  completedTopic = uniqueName('completed');
  deadLetterTopic = uniqueName('dead-letter');
  await createTopicWithSubscription(pubsub, inTopic, `${inTopic}-sub`, { ackDeadlineSeconds: 10 });
  const { subscription } = await createTopicWithSubscription(pubsub, completedTopic, `${completedTopic}-sub`);
  await pubsub.createTopic(deadLetterTopic);
  completed = collectMessages(subscription);
});

afterEach(async () => {
  await Promise.all(serves.map(killServe));
  serves = [];
  await completed.close();
});

describe('serve with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('exports one trace per pulled event, from the publisher through every processor thread to the publish', async () => {
    const worker = serve();
    await worker.port();
    const traceId = newTraceId();
    const underwritingId = `uw_pull_${traceId.slice(0, 8)}`;
    const sent = traceparent(traceId);
    await pubsub.topic(inTopic).publishMessage({
      data: eventData(underwritingId, ['fx_call', 'fx_spin']),
      attributes: { googclient_traceparent: sent },
    });

    const message = await completedFor(underwritingId);
    expect(traceOf(message.attributes['googclient_traceparent'])).toBe(traceId);
    const result = JSON.parse(message.data) as {
      completed_processors: { factors: { traceparent: string } }[];
      timeout_processors: { timeout_phase: string }[];
    };
    expect(result.timeout_processors.map((t) => t.timeout_phase)).toEqual(['terminated']);
    // The loopback server got the worker's request with this trace's context.
    expect(traceOf(result.completed_processors[0]?.factors.traceparent)).toBe(traceId);

    const spans = await spansOf(traceId, [
      'underwriting.created process',
      'documents fetch',
      'processor fx_call',
      'processor fx_spin',
      `${completedTopic} create`,
    ]);
    // The publisher's span is the event span's parent.
    const event = only(spans, (s) => s.name === 'underwriting.created process', 'the event span');
    expect(event.parentSpanId).toBe(sent.split('-')[2]);
    expect(event.kind).toBe(SPAN_KIND.consumer);
    // The client's per-message queue and batch spans are not recorded.
    expect(spans.filter((s) => /scheduler|flow control|batching| (send|ack|modack)$/.test(s.name))).toEqual(
      [],
    );
    expect(event.attributes).toMatchObject({ 'messaging.system': 'gcp_pubsub', transport: 'pull' });
    const fetch = only(spans, (s) => s.name === 'documents fetch', 'the document fetch span');
    expect(fetch.parentSpanId).toBe(event.spanId);
    const requests = spans.filter((s) => s.parentSpanId === fetch.spanId && s.kind === SPAN_KIND.client);
    expect(requests.length).toBeGreaterThanOrEqual(1);
    // Each request is a span the document service was told of: its traceparent names it.
    const received = new Set(documents.requests.map((r) => r.traceparent));
    for (const request of requests) {
      expect(request.name).toBe('GET');
      expect(request.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.full': `${documents.url}/documents/doc_call`,
        'http.response.status_code': 200,
      });
      expect(received).toContain(`00-${traceId}-${request.spanId}-01`);
    }

    const call = only(spans, (s) => s.name === 'processor fx_call', 'the fx_call run span');
    expect(call.parentSpanId).toBe(event.spanId);
    expect(call.attributes).toMatchObject({
      'processor.id': 'fx_call',
      'processor.version': '2.1.0',
      'processor.status': 'completed',
      'processor.attempts': 1,
    });
    expect(call.attributes['processor.execution_id']).toMatch(/^[0-9A-Z]{26}$/);
    expect(typeof call.attributes['processor.queue.duration']).toBe('number');
    // Made inside fx_call's worker thread, a child of its run span.
    const threadRequest = only(
      spans,
      (s) => s.parentSpanId === call.spanId,
      'the worker thread request span',
    );
    expect(threadRequest.kind).toBe(SPAN_KIND.client);
    expect(threadRequest.scope).toBe('processor-orchestrator/worker-thread');
    expect(threadRequest.attributes).toMatchObject({
      'url.full': calledUrl,
      'http.response.status_code': 200,
    });
    expect(result.completed_processors[0]?.factors.traceparent).toContain(threadRequest.spanId);

    // Its thread was terminated at the deadline; the run span, kept on the main thread, was not lost.
    const spin = only(spans, (s) => s.name === 'processor fx_spin', 'the fx_spin run span');
    expect(spin.attributes).toMatchObject({
      'processor.status': 'timeout',
      'processor.timeout_phase': 'terminated',
    });
    expect(spin.statusCode).toBe(2);

    const publish = only(spans, (s) => s.name === `${completedTopic} create`, 'the publish span');
    expect(publish.kind).toBe(SPAN_KIND.producer);
    expect(traceOf(message.attributes['googclient_traceparent'])).toBe(publish.traceId);
    expect(message.attributes['googclient_traceparent']).toContain(publish.spanId);

    // Every line of the event, on the main thread and in fx_call's thread, names the trace.
    const traceField = `projects/${TEST_PROJECT_ID}/traces/${traceId}`;
    const processed = await worker.waitForLog(
      (l) => l.message === 'underwriting processed' && l['underwriting_id'] === underwritingId,
    );
    const timedOut = await worker.waitForLog(
      (l) => l.message === 'processor timed out' && l['underwriting_id'] === underwritingId,
    );
    const inThread = await worker.waitForLog(
      (l) => l.message === 'fx_call called' && l['underwriting_id'] === underwritingId,
    );
    for (const line of [processed, timedOut, inThread]) {
      expect(line[TRACE_FIELD], String(line.message)).toBe(traceField);
      expect(line['logging.googleapis.com/trace_sampled']).toBe(true);
    }
    expect(processed['logging.googleapis.com/spanId']).toBe(event.spanId);
    expect(inThread['logging.googleapis.com/spanId']).toBe(call.spanId);
    const eventLines = worker.logs.filter((l: LogLine) => l['underwriting_id'] === underwritingId);
    expect(eventLines.filter((l) => l[TRACE_FIELD] !== traceField)).toEqual([]);

    // The in-memory ledger (the default) answers in microseconds: its calls have no spans.
    expect(receiver.spans.filter((s) => s.traceId === traceId && s.name.startsWith('ledger '))).toEqual([]);
  });

  it('continues the trace of a pushed event, exporting OTLP/JSON when asked', async () => {
    const worker = serve({ UNDERWRITING_SUBSCRIPTION: '', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    const port = await worker.port();
    const traceId = newTraceId();
    const underwritingId = `uw_push_${traceId.slice(0, 8)}`;
    const response = await postPush(
      `http://127.0.0.1:${port}`,
      pushEnvelope(eventData(underwritingId, ['fx_call']), {
        messageId: `push-${traceId}`,
        attributes: { googclient_traceparent: traceparent(traceId) },
      }),
    );
    expect(response.status).toBe(204);
    const message = await completedFor(underwritingId);
    expect(traceOf(message.attributes['googclient_traceparent'])).toBe(traceId);

    const spans = await spansOf(traceId, [
      'underwriting.created process',
      'processor fx_call',
      `${completedTopic} create`,
    ]);
    const event = only(spans, (s) => s.name === 'underwriting.created process', 'the event span');
    expect(event.attributes).toMatchObject({ transport: 'push', 'messaging.message.id': `push-${traceId}` });
    const call = only(spans, (s) => s.name === 'processor fx_call', 'the fx_call run span');
    expect(spans.some((s) => s.parentSpanId === call.spanId && s.kind === SPAN_KIND.client)).toBe(true);
    expect(receiver.contentTypes.get('/v1/traces')).toContain('application/json');
  });

  it('exports the metrics with their names and attributes', async () => {
    const worker = serve({ PROCESSOR_TIMEOUT_MS: '5000' });
    await worker.port();
    const topic = pubsub.topic(inTopic);
    await topic.publishMessage({ data: eventData('uw_metrics', ['fx_call'], ['doc_call', 'doc_flaky']) });
    await topic.publishMessage({ data: Buffer.from('not json') });
    await completedFor('uw_metrics');

    const point = (metric: string, attributes: Record<string, unknown> = {}) =>
      receiver.points.find(
        (p) => p.metric === metric && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
      );
    const expected: [string, Record<string, unknown>][] = [
      ['processor.run.duration', { 'processor.id': 'fx_call', 'processor.status': 'completed' }],
      ['processor.queue.duration', { 'processor.id': 'fx_call' }],
      ['processor.attempts', { 'processor.id': 'fx_call', 'processor.status': 'completed' }],
      ['underwriting.processed', { overall_status: 'success', transport: 'pull' }],
      ['messaging.process.duration', { 'messaging.system': 'gcp_pubsub', transport: 'pull' }],
      ['underwriting.dead_lettered', { 'error.type': 'not_json' }],
      ['documents.fetch.duration', {}],
      ['documents.fetch.retries', {}],
      ['pool.threads', {}],
      ['pool.threads.busy', {}],
      ['pool.cpu.saturation', {}],
    ];
    await receiver.waitFor(
      () => expected.every(([metric, attributes]) => point(metric, attributes)),
      'every metric',
    );
    expect(point('processor.run.duration')?.unit).toBe('s');
    expect(point('processor.run.duration')?.type).toBe('histogram');
    expect(point('processor.attempts')?.type).toBe('sum');
    expect(point('pool.threads')?.type).toBe('gauge');
    expect(point('pool.threads')?.value).toBeGreaterThanOrEqual(2);
    expect(point('documents.fetch.retries')?.value).toBeGreaterThanOrEqual(1);
  });
});

describe('serve with no OTLP endpoint', () => {
  it("exports nothing, yet its log lines name the publisher's trace and its requests and result carry it on", async () => {
    const before = receiver.spans.length + receiver.points.length;
    const worker = serve({ OTEL_EXPORTER_OTLP_ENDPOINT: '' });
    await worker.port();
    const traceId = newTraceId();
    const underwritingId = `uw_off_${traceId.slice(0, 8)}`;
    const sent = traceparent(traceId);
    await pubsub.topic(inTopic).publishMessage({
      data: eventData(underwritingId, ['fx_call']),
      attributes: { googclient_traceparent: sent },
    });
    const message = await completedFor(underwritingId);
    expect(message.attributes['googclient_traceparent']).toBe(sent);
    const traceField = `projects/${TEST_PROJECT_ID}/traces/${traceId}`;
    const processed = await worker.waitForLog(
      (l) => l.message === 'underwriting processed' && l['underwriting_id'] === underwritingId,
    );
    const inThread = await worker.waitForLog(
      (l) => l.message === 'fx_call called' && l['underwriting_id'] === underwritingId,
    );
    for (const line of [processed, inThread]) {
      expect(line[TRACE_FIELD]).toBe(traceField);
      expect(line['logging.googleapis.com/spanId']).toBe(sent.split('-')[2]);
    }
    // The document request carried the publisher's context on, as did the request from the thread.
    expect(documents.requests.map((r) => r.traceparent)).toContain(sent);
    const result = JSON.parse(message.data) as {
      completed_processors: { factors: { traceparent: string } }[];
    };
    expect(traceOf(result.completed_processors[0]?.factors.traceparent)).toBe(traceId);
    expect(receiver.spans.length + receiver.points.length).toBe(before);
  });
});

// Firestore and a re-run on a busy machine: the tests wait on conditions, and may take long.
describe('serve with OTEL_EXPORTER_OTLP_ENDPOINT and the Firestore ledger', { timeout: 120_000 }, () => {
  const WAIT_MS = 60_000;
  const LEDGER_CALLS = ['ledger begin', 'ledger settle', 'ledger published'];

  const serveOnFirestore = () =>
    serve({
      LEDGER: 'firestore',
      FIRESTORE_EMULATOR_HOST: firestoreHost,
      LEDGER_COLLECTION: uniqueCollection(),
      UNDERWRITING_TOPIC: inTopic,
      OPS_AUTH: 'disabled',
    });

  it("traces the ledger's calls, each a child of the event span", async () => {
    const worker = serveOnFirestore();
    await worker.port();
    const traceId = newTraceId();
    const underwritingId = `uw_ledger_${traceId.slice(0, 8)}`;
    await pubsub.topic(inTopic).publishMessage({
      data: eventData(underwritingId, ['fx_call']),
      attributes: { googclient_traceparent: traceparent(traceId) },
    });
    const message = await completedFor(underwritingId);
    expect(traceOf(message.attributes['googclient_traceparent'])).toBe(traceId);

    const spans = await spansOf(traceId, ['underwriting.created process', ...LEDGER_CALLS], WAIT_MS);
    const event = only(spans, (s) => s.name === 'underwriting.created process', 'the event span');
    for (const name of LEDGER_CALLS) {
      const call = only(spans, (s) => s.name === name, `the ${name} span`);
      expect(call.parentSpanId, name).toBe(event.spanId);
      expect(call.kind, name).toBe(SPAN_KIND.internal);
      expect(call.statusCode, name).toBe(0);
    }
    // Not a re-run, and nothing failed: no history read, no claim released.
    expect(spans.filter((s) => s.name === 'ledger history' || s.name === 'ledger release')).toEqual([]);
  });

  it("counts the runs a re-run reuses from the ledger, and traces the re-run's history read", async () => {
    const mark = receiver.points.length;
    const worker = serveOnFirestore();
    const port = await worker.port();
    const underwritingId = `uw_reuse_${newTraceId().slice(0, 8)}`;
    const firstKey = await pubsub
      .topic(inTopic)
      .publishMessage({ data: eventData(underwritingId, ['fx_call', 'fx_spin']) });
    const first = await completedFor(underwritingId);
    expect(JSON.parse(first.data)).toMatchObject({ overall_status: 'partial_success' });

    const posted = await fetch(`http://127.0.0.1:${port}/ops/underwritings/${underwritingId}/rerun`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-requested-with': 'test' },
      body: JSON.stringify({ processors: ['fx_spin'], reason: 'telemetry test' }),
    });
    expect(posted.status).toBe(202);
    const second = await completedFor(underwritingId, 2);
    expect(second.attributes['rerun_of']).toBe(firstKey);
    const rerunTrace = traceOf(second.attributes['googclient_traceparent']) ?? '';
    expect(rerunTrace).toMatch(/^[0-9a-f]{32}$/);
    expect(rerunTrace).not.toBe(traceOf(first.attributes['googclient_traceparent']));

    const spans = await spansOf(
      rerunTrace,
      ['underwriting.created process', 'ledger history', 'processor fx_spin', ...LEDGER_CALLS],
      WAIT_MS,
    );
    const event = only(spans, (s) => s.name === 'underwriting.created process', 'the event span');
    expect(event.attributes['underwriting.id']).toBe(underwritingId);
    const history = only(spans, (s) => s.name === 'ledger history', 'the ledger history span');
    expect(history.parentSpanId).toBe(event.spanId);
    expect(history.statusCode).toBe(0);
    // fx_call's outcome was taken from the ledger: it did not run again.
    expect(spans.filter((s) => s.name === 'processor fx_call')).toEqual([]);

    // Cumulative: every export after the re-run carries the same one point.
    const reused = await receiver.waitFor(
      () => {
        const points = receiver.points.slice(mark).filter((p) => p.metric === 'ledger.reused_runs');
        return points.length > 0 && points;
      },
      'ledger.reused_runs',
      WAIT_MS,
    );
    for (const point of reused) {
      expect(point).toEqual({
        metric: 'ledger.reused_runs',
        unit: '{run}',
        type: 'sum',
        attributes: { 'processor.id': 'fx_call' },
        value: 1,
      });
    }
  });
});
