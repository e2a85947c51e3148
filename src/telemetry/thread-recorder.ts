// The thread side of tracing: a processor's own HTTP requests (fetch, undici) become spans, children
// of its run span, recorded as plain data and handed back with the run's result. No OpenTelemetry
// SDK is loaded in a thread: a few lines on undici's diagnostics channels do it.
import { randomBytes } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';

import { httpFailure, httpRequestAttributes } from './http-attributes.js';
import type { SpanRecord } from './span-record.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

/** Where the spans of the run in progress go: its run span's context, and the list handed back. */
export interface RunSpans {
  traceparent: string | undefined;
  spans: SpanRecord[];
}

// OpenTelemetry's SpanKind.CLIENT and SpanStatusCode.ERROR.
const CLIENT = 2;
const ERROR = 2;

/** The parts of undici's request object (built in for fetch, or the npm package) used here. */
interface UndiciRequest {
  method: string;
  origin: string;
  path: string;
  headers: string | string[];
  addHeader?: (name: string, value: string) => unknown;
}

/**
 * Subscribes to undici's request channels. Each request made while a run is in progress
 * (`current`, read from the run's async context) carries a `traceparent` header naming a new
 * span, child of the run span, so the services it calls join the trace even when nothing is
 * exported. With `record`, when the run span is sampled, that span is recorded into the run's
 * list once the response ends or the request fails. A request still open when its run ends is
 * not reported.
 */
export function traceHttpRequests(current: () => RunSpans | undefined, record: boolean): void {
  const open = new WeakMap<object, { span: SpanRecord; into: SpanRecord[] }>();

  subscribe('undici:request:create', (message) => {
    const { request } = message as { request: UndiciRequest };
    const run = current();
    const parent = parseTraceparent(run?.traceparent);
    if (!run || !parent) return;
    const spanId = randomBytes(8).toString('hex');
    addHeader(request, 'traceparent', formatTraceparent({ ...parent, spanId }));
    if (!record || (parent.traceFlags & 1) === 0) return;
    const url = new URL(request.path, request.origin);
    const span: SpanRecord = {
      traceId: parent.traceId,
      spanId,
      parentSpanId: parent.spanId,
      traceFlags: parent.traceFlags,
      name: request.method,
      kind: CLIENT,
      startMs: now(),
      endMs: 0,
      attributes: httpRequestAttributes(request.method, url),
    };
    open.set(request, { span, into: run.spans });
  });

  subscribe('undici:request:headers', (message) => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    const entry = open.get(request);
    if (!entry) return;
    entry.span.attributes['http.response.status_code'] = response.statusCode;
    if (response.statusCode >= 400) entry.span.status = { code: ERROR, message: String(response.statusCode) };
  });

  const end = (request: object, error?: unknown) => {
    const entry = open.get(request);
    if (!entry) return;
    open.delete(request);
    entry.span.endMs = now();
    if (error !== undefined) {
      const failure = httpFailure(error);
      entry.span.status = { code: ERROR, message: failure.message };
      entry.span.attributes['error.type'] = failure.type;
    }
    entry.into.push(entry.span);
  };
  subscribe('undici:request:trailers', (message) => end((message as { request: object }).request));
  subscribe('undici:request:error', (message) => {
    const { request, error } = message as { request: object; error: unknown };
    end(request, error);
  });
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function addHeader(request: UndiciRequest, name: string, value: string): void {
  if (typeof request.addHeader === 'function') request.addHeader(name, value);
  else if (Array.isArray(request.headers)) request.headers.push(name, value);
  else request.headers += `${name}: ${value}\r\n`;
}
