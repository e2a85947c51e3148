import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  createHttpDocumentSource,
  MAX_DOCUMENT_BYTES,
  retryAfter,
  type HttpDocumentSourceOptions,
} from '../../src/documents/http-source.js';
import { OrchestratorError } from '../../src/errors.js';
import {
  startDocumentServer,
  type DocumentServer,
  type DocumentServerOptions,
} from '../helpers/document-server.js';
import {
  CONTRACT_DOCUMENTS,
  HOSTILE_IDS,
  doc,
  documentSourceContract,
  read,
} from '../helpers/document-source-contract.js';
import { silentLog } from '../helpers/fixtures.js';

const OPTIONS = { concurrency: 4, timeoutMs: 1_000, budgetMs: 10_000, attempts: 3, log: silentLog };

let contractServer: DocumentServer;
const opened: { close(): Promise<void> }[] = [];

function source(server: DocumentServer, options: Partial<HttpDocumentSourceOptions> = {}) {
  const created = createHttpDocumentSource({ baseUrl: server.url, ...OPTIONS, ...options });
  opened.push(created);
  return created;
}

async function serve(options: Partial<DocumentServerOptions>): Promise<DocumentServer> {
  const server = await startDocumentServer({ documents: { doc_1: doc('doc_1') }, ...options });
  opened.push(server);
  return server;
}

const requestsFor = (server: DocumentServer, id: string) => server.requests.filter((r) => r.id === id);

async function unavailable(promise: Promise<unknown>): Promise<OrchestratorError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OrchestratorError);
  expect(err).toMatchObject({ code: 'DOCUMENT_SOURCE_UNAVAILABLE', retryable: true });
  return err as OrchestratorError;
}

beforeAll(async () => {
  contractServer = await startDocumentServer({ documents: CONTRACT_DOCUMENTS });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
});

afterAll(async () => {
  await contractServer.close();
});

documentSourceContract('HTTP source', () => source(contractServer));

describe('HTTP document source, against a fault-injecting server on loopback', () => {
  it('asks for every id as exactly one encoded path segment, and never for an id that would change the path', async () => {
    const server = await serve({});
    await source(server).fetch(HOSTILE_IDS);
    for (const request of server.requests) expect(request.path).toMatch(/^\/documents\/[^/]+$/);
    expect(server.requests.map((r) => r.id).sort()).toEqual(
      HOSTILE_IDS.filter((id) => !['', '.', '..'].includes(id)).sort(),
    );
  });

  it('retries a 500 and returns the document the next answer brings', async () => {
    const server = await serve({ faults: { doc_1: [500, 502] } });
    expect(read(await source(server).fetch(['doc_1']))).toEqual([doc('doc_1')]);
    expect(requestsFor(server, 'doc_1')).toHaveLength(3);
  });

  it('gives up after the attempts, failing the whole fetch as retryable', async () => {
    const server = await serve({ faults: { doc_1: [503, 503, 503, 503] } });
    const err = await unavailable(source(server).fetch(['doc_1']));
    expect(err.message).toBe('document doc_1: HTTP 503, after 3 attempts');
    expect(requestsFor(server, 'doc_1')).toHaveLength(3);
  });

  it("waits what a 429's Retry-After says before trying again", async () => {
    const server = await serve({ faults: { doc_1: [{ status: 429, retryAfter: '1' }] } });
    expect(read(await source(server).fetch(['doc_1']))).toEqual([doc('doc_1')]);
    const [first, second] = requestsFor(server, 'doc_1');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990);
  });

  it('fails at once when Retry-After asks for longer than the budget leaves', async () => {
    const server = await serve({ faults: { doc_1: [{ status: 429, retryAfter: '120' }] } });
    const started = performance.now();
    const err = await unavailable(source(server).fetch(['doc_1']));
    expect(err.message).toMatch(
      /^document doc_1: HTTP 429; the next try \(in 120000 ms\) would outlive DOCUMENTS_BUDGET_MS$/,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('abandons a request that hangs past its deadline and tries again', async () => {
    const server = await serve({ faults: { doc_1: ['hang'] } });
    const started = performance.now();
    expect(read(await source(server, { timeoutMs: 200 }).fetch(['doc_1']))).toEqual([doc('doc_1')]);
    expect(requestsFor(server, 'doc_1')).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
  });

  it('fails the fetch, naming the deadline, when every try hangs', async () => {
    const server = await serve({ faults: { doc_1: ['hang', 'hang', 'hang'] } });
    const err = await unavailable(source(server, { timeoutMs: 100 }).fetch(['doc_1']));
    expect(err.message).toBe(
      'document doc_1: no answer within DOCUMENTS_TIMEOUT_MS (100 ms), after 3 attempts',
    );
  });

  it('never retries a 404 or another 4xx: the document is missing, with the status as the reason', async () => {
    const server = await serve({ faults: { doc_403: [403], doc_400: [400] } });
    const batch = await source(server).fetch(['doc_404', 'doc_403', 'doc_400']);
    expect(batch.missing).toEqual([
      { id: 'doc_404', reason: 'not found' },
      { id: 'doc_403', reason: 'HTTP 403' },
      { id: 'doc_400', reason: 'HTTP 400' },
    ]);
    expect(server.requests).toHaveLength(3);
  });

  it('returns invalid JSON as received without retrying it: reading it says it is missing', async () => {
    const server = await serve({ faults: { doc_1: [{ body: '{"document_id": ' }] } });
    const batch = await source(server).fetch(['doc_1']);
    expect(batch.missing).toEqual([]);
    expect(read(batch)).toEqual([{ id: 'doc_1', reason: expect.stringMatching(/^invalid JSON/) as string }]);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a body larger than the cap without reading it all', async () => {
    const huge = Buffer.alloc(MAX_DOCUMENT_BYTES * 4, ' ');
    const server = await serve({ faults: { doc_1: [{ body: huge }] } });
    const { missing } = await source(server).fetch(['doc_1']);
    expect(missing).toEqual([{ id: 'doc_1', reason: `larger than ${MAX_DOCUMENT_BYTES} bytes` }]);
  });

  it('fetches in parallel, never more at once than the cap, over kept-alive connections', async () => {
    const documents = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`d${i}`, doc(`d${i}`)]));
    const server = await serve({ documents, delayMs: 50 });
    const http = source(server, { concurrency: 4 });
    const started = performance.now();
    const batch = await http.fetch(Object.keys(documents));
    const elapsed = performance.now() - started;
    expect(batch.documents).toHaveLength(20);
    expect(server.maxInFlight()).toBe(4);
    // 5 waves of 50 ms, not 20 in a row.
    expect(elapsed).toBeGreaterThanOrEqual(245);
    expect(elapsed).toBeLessThan(20 * 50);
    // Not one connection per document: a few per slot at most, all kept for the next event. A slot
    // whose next request starts before undici has put its last connection back opens another (up
    // to 2 per slot), in either fetch: the bound holds over both, 20 documents more each.
    expect(server.connections()).toBeLessThanOrEqual(2 * 4);
    await http.fetch(Object.keys(documents));
    expect(server.connections()).toBeLessThanOrEqual(2 * 4);
  });

  it('fails the fetch as retryable once it outlives the budget, ending the requests in flight', async () => {
    // All of them would take 40 × 100 ms / 2 = 2 s.
    const documents = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${i}`, doc(`d${i}`)]));
    const server = await serve({ documents, delayMs: 100 });
    const started = performance.now();
    const err = await unavailable(
      source(server, { concurrency: 2, budgetMs: 300 }).fetch(Object.keys(documents)),
    );
    expect(err.message).toBe('fetching 40 documents took longer than DOCUMENTS_BUDGET_MS (300 ms)');
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(server.requests.length).toBeLessThan(20);
  });

  it('ends the other requests as soon as one document fails for good', async () => {
    // d0 fails for good after 3 tries (~0.4 s); the other slot alone would need 40 × 30 ms.
    const documents = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${i}`, doc(`d${i}`)]));
    const server = await serve({ documents, faults: { d0: [500, 500, 500] }, delayMs: 30 });
    await unavailable(source(server, { concurrency: 2, attempts: 3 }).fetch(Object.keys(documents)));
    expect(server.requests.length).toBeLessThan(30);
  });

  it('makes each try a client span, child of the context it is given, and tells the service of it', async () => {
    const server = await serve({ faults: { doc_1: [503, 'hang'] } });
    const exporter = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
      't',
    );
    const parent = tracer.startSpan('documents fetch');
    const docs = source(server, { tracer, timeoutMs: 500 });
    expect(read(await docs.fetch(['doc_1'], trace.setSpan(ROOT_CONTEXT, parent)))).toEqual([doc('doc_1')]);
    const tries = exporter.getFinishedSpans();
    const url = `${server.url}/documents/doc_1`;
    expect(tries.map((s) => [s.name, s.kind, s.parentSpanContext?.spanId])).toEqual(
      Array(3).fill(['GET', SpanKind.CLIENT, parent.spanContext().spanId]),
    );
    expect(tries.map((s) => s.attributes)).toEqual([
      {
        'http.request.method': 'GET',
        'url.full': url,
        'server.address': '127.0.0.1',
        'server.port': Number(new URL(url).port),
        'http.response.status_code': 503,
      },
      expect.objectContaining({ 'error.type': 'TimeoutError' }),
      expect.objectContaining({ 'http.response.status_code': 200 }),
    ]);
    expect(tries.map((s) => s.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    const { traceId } = parent.spanContext();
    expect(server.requests.map((r) => r.traceparent)).toEqual(
      tries.map((s) => `00-${traceId}-${s.spanContext().spanId}-01`),
    );
  });

  it('carries a context it does not record on, and sends no traceparent without one', async () => {
    const server = await serve({});
    const received = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const context = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    await source(server).fetch(['doc_1'], context);
    await source(server).fetch(['doc_1']);
    expect(server.requests.map((r) => r.traceparent)).toEqual([received, undefined]);
  });

  it('sends the Authorization header it is given, and fails retryably when it cannot get one', async () => {
    const server = await serve({});
    await source(server, { authorization: () => Promise.resolve('Bearer id-token') }).fetch(['doc_1']);
    expect(server.requests.map((r) => r.authorization)).toEqual(['Bearer id-token']);
    const err = await unavailable(
      source(server, { authorization: () => Promise.reject(new Error('metadata server down')) }).fetch([
        'doc_1',
      ]),
    );
    expect(err.message).toBe('getting an ID token for DOCUMENTS_AUDIENCE: metadata server down');
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    expect(retryAfter('3')).toBe(3_000);
    expect(retryAfter(['2', '9'])).toBe(2_000);
    const inFive = new Date(Date.now() + 5_000).toUTCString();
    expect(retryAfter(inFive)).toBeGreaterThan(3_000);
    expect(retryAfter(inFive)).toBeLessThanOrEqual(5_000);
    expect(retryAfter(new Date(Date.now() - 60_000).toUTCString())).toBe(0);
    expect(retryAfter(undefined)).toBeUndefined();
    expect(retryAfter('soon')).toBeUndefined();
    expect(retryAfter('-1')).toBeUndefined();
  });
});
