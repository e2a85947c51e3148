import { setTimeout as sleep } from 'node:timers/promises';

import type { Context, Tracer } from '@opentelemetry/api';
import { Agent, request, type Dispatcher } from 'undici';

import { OrchestratorError, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { startHttpClientSpan } from '../telemetry/http-client-span.js';
import { noTelemetry } from '../telemetry/telemetry.js';
import type { DocumentBatch, DocumentSource, DocumentText, MissingDocument } from './source.js';

/** Document metadata is small: a response larger than this is refused (the document is missing). */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;
// Exponential backoff with full jitter: a random wait up to base × 2^(attempt - 1), at most the cap.
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 5_000;
// Ids that no encoding keeps one path segment ("", ".", ".."): never asked for.
const DOT_SEGMENT = /^\.{0,2}$/;
// Idle keep-alive connections are kept this long (the service may close them sooner).
const KEEP_ALIVE_MS = 30_000;

export interface HttpDocumentSourceOptions {
  /** Base URL, without a trailing slash: documents are at `{baseUrl}/documents/{id}`. */
  baseUrl: string;
  /** Requests in flight at once for one event. */
  concurrency: number;
  /** Deadline of one request, body included. */
  timeoutMs: number;
  /** Deadline of one event's fetch, retries and their waits included. */
  budgetMs: number;
  /** Tries per document, the first included. */
  attempts: number;
  /** The `Authorization` header value to send (an ID token), fetched per request (it caches). */
  authorization?: () => Promise<string>;
  /** Called for each request about to be tried again (the `documents.fetch.retries` metric). */
  onRetry?: () => void;
  /** Each request is a client span, child of the context `fetch` is given (default: none). */
  tracer?: Tracer;
  log: Logger;
}

export interface HttpDocumentSource extends DocumentSource {
  /** Closes the kept-alive connections. */
  close(): Promise<void>;
}

type Attempt =
  { done: DocumentText | MissingDocument } | { retry: string; retryAfterMs?: number | undefined };

/**
 * `GET {baseUrl}/documents/{id}` for every id, at most `concurrency` at once, over kept-alive
 * connections. 200 with a valid document → the document; 404 → missing; another 4xx, an invalid
 * body or one over MAX_DOCUMENT_BYTES → missing, with the reason. Network errors, timeouts, 5xx
 * and 429 are retried with backoff (or after their `Retry-After`, when they send one), up to
 * `attempts` tries; a document still failing then, or the event's fetch outliving `budgetMs`,
 * rejects the whole fetch with DOCUMENT_SOURCE_UNAVAILABLE (retryable): the event is retried
 * later.
 */
export function createHttpDocumentSource(options: HttpDocumentSourceOptions): HttpDocumentSource {
  const { baseUrl, log } = options;
  const tracer = options.tracer ?? noTelemetry().tracer;
  const agent = new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS });

  async function attempt(id: string, signal: AbortSignal, trace: Context | undefined): Promise<Attempt> {
    // URL parsers resolve "." and ".." as path steps (encodeURIComponent keeps dots): such an id,
    // or an empty one, would name another resource than /documents/{id}.
    if (DOT_SEGMENT.test(id)) return { done: { id, reason: 'not a valid document id' } };
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.authorization) {
      try {
        headers['authorization'] = await options.authorization();
      } catch (err) {
        throw unavailable(`getting an ID token for DOCUMENTS_AUDIENCE: ${messageOf(err)}`, err);
      }
    }
    const url = new URL(`${baseUrl}/documents/${encodeURIComponent(id)}`);
    const span = startHttpClientSpan(tracer, 'GET', url, trace);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        dispatcher: agent,
        headers: { ...headers, ...span.headers },
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]),
      });
    } catch (err) {
      span.end({ error: err });
      return { retry: describeFailure(err, options.timeoutMs) };
    }
    const { statusCode, body } = response;
    if (statusCode === 200) {
      const json = await readCapped(body, MAX_DOCUMENT_BYTES).catch((err: unknown) => err as Error);
      span.end(json instanceof Error ? { error: json } : { status: statusCode });
      if (json instanceof Error) return { retry: describeFailure(json, options.timeoutMs) };
      if (json === undefined) return { done: { id, reason: `larger than ${MAX_DOCUMENT_BYTES} bytes` } };
      return { done: { id, json } };
    }
    // Read and drop the rest, so that the connection is kept for the next request.
    await body.dump().catch(() => {});
    span.end({ status: statusCode });
    if (statusCode === 404) return { done: { id, reason: 'not found' } };
    if (statusCode === 429 || statusCode >= 500) {
      return { retry: `HTTP ${statusCode}`, retryAfterMs: retryAfter(response.headers['retry-after']) };
    }
    return { done: { id, reason: `HTTP ${statusCode}` } };
  }

  async function fetchOne(
    id: string,
    signal: AbortSignal,
    endsAt: number,
    trace: Context | undefined,
  ): Promise<DocumentText | MissingDocument> {
    for (let tries = 1; ; tries++) {
      const result = await attempt(id, signal, trace);
      if (signal.aborted) throw signal.reason;
      if ('done' in result) return result.done;
      const failure = `document ${id}: ${result.retry}`;
      if (tries >= options.attempts)
        throw unavailable(`${failure}, after ${tries} attempt${tries === 1 ? '' : 's'}`);
      const backoffMs = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (tries - 1));
      const waitMs = result.retryAfterMs ?? backoffMs;
      // Waiting past the budget cannot succeed: the event is retried later instead.
      if (performance.now() + waitMs > endsAt) {
        throw unavailable(
          `${failure}; the next try (in ${Math.round(waitMs)} ms) would outlive DOCUMENTS_BUDGET_MS`,
        );
      }
      options.onRetry?.();
      log.debug(
        { document_id: id, attempt: tries, reason: result.retry, wait_ms: Math.round(waitMs) },
        'retrying a document',
      );
      await sleep(waitMs, undefined, { signal }).catch(() => {
        throw signal.reason;
      });
    }
  }

  async function fetch(ids: readonly string[], trace?: Context): Promise<DocumentBatch> {
    const unique = [...new Set(ids)];
    const results: (DocumentText | MissingDocument)[] = [];
    const budget = AbortSignal.timeout(options.budgetMs);
    const endsAt = performance.now() + options.budgetMs;
    // The first document that fails ends the others: the event is retried as a whole.
    const failed = new AbortController();
    const signal = AbortSignal.any([budget, failed.signal]);
    let next = 0;
    const worker = async () => {
      while (next < unique.length) {
        // Past the budget, or after another document failed: no document is left out silently.
        if (signal.aborted) throw signal.reason;
        const i = next++;
        results[i] = await fetchOne(unique[i] as string, signal, endsAt, trace);
      }
    };
    const workers = Array.from({ length: Math.min(options.concurrency, unique.length) }, worker);
    try {
      await Promise.all(
        workers.map((w) =>
          w.catch((err: unknown) => {
            failed.abort(err);
            throw err;
          }),
        ),
      );
    } catch (err) {
      await Promise.allSettled(workers);
      if (budget.aborted) {
        throw unavailable(
          `fetching ${unique.length} documents took longer than DOCUMENTS_BUDGET_MS (${options.budgetMs} ms)`,
        );
      }
      throw err;
    }
    const batch: DocumentBatch = { documents: [], missing: [] };
    for (const result of results) {
      if ('reason' in result) batch.missing.push(result);
      else batch.documents.push(result);
    }
    return batch;
  }

  return { fetch, close: () => agent.close() };
}

function unavailable(message: string, cause?: unknown): OrchestratorError {
  return new OrchestratorError('DOCUMENT_SOURCE_UNAVAILABLE', message, { cause });
}

function describeFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within DOCUMENTS_TIMEOUT_MS (${timeoutMs} ms)`;
  }
  return messageOf(err);
}

/** The body's bytes, or `undefined` when it is larger than `maxBytes` (then it is not read on). */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** `Retry-After` in ms: seconds, or an HTTP date; `undefined` when absent or unreadable. */
export function retryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  // An HTTP date names its weekday and month; Date.parse would also take "-1" as a year.
  const at = /[a-z]/i.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
