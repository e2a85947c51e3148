// One processor run, in one place: what goes into a worker thread, what comes back out of it, and
// the entry `processing.completed` publishes for it. The orchestrator, the pool, the worker and the
// SDK's test kit all import these; none declares its own.
import { randomUUID } from 'node:crypto';

import type { Document, DocumentText, MissingDocument } from '../events/document.js';
import type {
  CompletedProcessor,
  FailedProcessor,
  FailureCode,
  TimeoutProcessor,
} from '../events/processing-completed.js';
import type { SpanRecord } from '../telemetry/span-record.js';

/** What a processor is given besides its ids: the documents found and the ids that were not. */
export interface RunInput {
  documents: readonly Document[];
  missingDocuments: readonly string[];
}

/**
 * An event's documents as its runs receive them: each document's JSON (a small one as validation
 * on the main thread returned it, a large one exactly as its source received it: `DocumentText`),
 * written once per event into shared memory, and a key naming that one encoding. Every run's task
 * carries the same buffer, which postMessage shares instead of copying (a 512 KiB event asked of
 * four runs is not serialized, sent and received four times), and a thread parses a key once for
 * all the runs it hosts of it (`inputs.ts`), validating what the main thread did not.
 */
export interface EncodedInput {
  /** Unique in the process, whichever copy of this module made it. */
  key: string;
  /** The documents' JSON, one after another. */
  shared: SharedArrayBuffer;
  /** Whose JSON `shared` holds, in order, how many bytes of it each, and whether it is checked. */
  texts: readonly { id: string; bytes: number; checked?: true }[];
  /** Ids that resolved to no document (the source had none, or a small one was not valid). */
  missingDocuments: readonly string[];
}

// Two copies of this module (the service's and a test kit's) must not make the same key.
const KEY_PREFIX = randomUUID();
let encoded = 0;

/** The event's input: its documents' JSON, and the ids that resolved to no document. */
export function encodeTexts(
  texts: readonly DocumentText[],
  missingDocuments: readonly string[],
): EncodedInput {
  let length = 0;
  for (const text of texts) length += text.json.byteLength;
  const shared = new SharedArrayBuffer(length);
  const bytes = new Uint8Array(shared);
  let offset = 0;
  for (const text of texts) {
    bytes.set(text.json, offset);
    offset += text.json.byteLength;
  }
  return {
    key: `${KEY_PREFIX}:${++encoded}`,
    shared,
    texts: texts.map(({ id, json, checked }) => ({
      id,
      bytes: json.byteLength,
      ...(checked && { checked }),
    })),
    missingDocuments,
  };
}

/** The input of documents at hand, validated (the test kit, tests): each serialized. */
export function encodeInput(input: RunInput): EncodedInput {
  const texts = input.documents.map((document) => ({
    id: document.document_id,
    json: Buffer.from(JSON.stringify(document)),
    checked: true as const,
  }));
  return encodeTexts(texts, input.missingDocuments);
}

/** How a thread validates one document's JSON: `parseDocument`, which a thread loads on first need. */
export type ParseDocument = (id: string, text: string) => Document | MissingDocument;

/** Whether the input holds documents no one has validated yet (`parse` is needed to read it). */
export function needsParse(input: EncodedInput): boolean {
  return input.texts.some((text) => !text.checked);
}

/**
 * The run's documents: each document's JSON parsed (and validated, unless it is `checked`), those
 * that are not valid documents counted as missing (after the input's missing ids), and why they
 * are not.
 */
export function decodeInput(
  input: EncodedInput,
  parse: ParseDocument,
): { input: RunInput; invalid: MissingDocument[] } {
  const documents: Document[] = [];
  const invalid: MissingDocument[] = [];
  const bytes = Buffer.from(input.shared);
  let offset = 0;
  for (const { id, bytes: length, checked } of input.texts) {
    const text = bytes.toString('utf8', offset, offset + length);
    const document = checked ? (JSON.parse(text) as Document) : parse(id, text);
    offset += length;
    if ('reason' in document) invalid.push(document);
    else documents.push(document);
  }
  const missingDocuments = [...input.missingDocuments, ...invalid.map((m) => m.id)];
  return { input: { documents, missingDocuments }, invalid };
}

/** What ended a TIMEOUT: the processor settled after `ctx.signal` aborted, or its thread was ended. */
export type TimeoutPhase = TimeoutProcessor['timeout_phase'];

/**
 * The outcome of a run: the entry `processing.completed` publishes for it (`execution_time` in
 * seconds, run time only, over every attempt), tagged with the group it goes in.
 */
export type RunOutcome =
  | ({ status: 'completed' } & CompletedProcessor)
  | ({ status: 'failed' } & FailedProcessor)
  | ({ status: 'timeout' } & TimeoutProcessor);

export type RunStatus = RunOutcome['status'];

/** The published entry of an outcome: the outcome without its `status` tag. */
export function toEntry<O extends RunOutcome>(outcome: O): Omit<O, 'status'> {
  const entry: Partial<O> = { ...outcome };
  delete entry.status;
  return entry as Omit<O, 'status'>;
}

/** The message of a FAILED entry for a purchased processor that is not installed. */
export const NOT_INSTALLED = 'processor not installed';

/**
 * A FAILED entry's code: its own `error_code`, else (an entry recorded before entries had codes)
 * `PROCESSOR_NOT_INSTALLED` for a processor that was not installed, `PROCESSOR_FAILED` otherwise.
 */
export function failureCode(entry: Pick<FailedProcessor, 'error_code' | 'error_message'>): FailureCode {
  return (
    entry.error_code ??
    (entry.error_message === NOT_INSTALLED ? 'PROCESSOR_NOT_INSTALLED' : 'PROCESSOR_FAILED')
  );
}

/** Milliseconds of run time as the seconds an entry reports. */
export function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** What the pool sends a worker thread for one attempt of a run. Plain data only. */
export interface ThreadTask {
  /** Absolute path of the plugin module; imported once per thread. */
  file: string;
  processorId: string;
  executionId: string;
  underwritingId: string;
  /** This attempt's deadline: the run's `timeoutMs`, or what is left of it on a restart. */
  timeoutMs: number;
  /** Slot of the run table this attempt stamps (see `run-table.ts`). */
  slot: number;
  /** `encodeInput` of the event's documents (shared memory: the same buffer for every run). */
  input: EncodedInput;
  /**
   * W3C `traceparent` of the run's span (on the main thread): the processor's log lines name it,
   * and its HTTP requests are its children. `undefined` when the event has no trace context.
   */
  traceparent: string | undefined;
}

/**
 * What a worker thread answers for one attempt: data, never a thrown custom error (the class would
 * be lost crossing the thread). `retryable` marks a failure the processor's retry policy may retry.
 */
export type ThreadResult = (
  | { status: 'completed'; factors: CompletedProcessor['factors']; durationMs: number }
  | { status: 'failed'; error: string; retryable: boolean; retryAfterMs?: number; durationMs: number }
  | { status: 'timeout'; durationMs: number }
) & {
  /** Spans the attempt recorded in its thread (its HTTP requests), when tracing is on. */
  spans?: SpanRecord[];
  /**
   * Of `durationMs`, how long its thread spent decoding the event's documents for it (when it read
   * them and had them decoded): the thread's work, not the processor's, so the scheduler learns
   * what the processor does from the rest.
   */
  readMs?: number;
  /**
   * CPU time the processor's own code took, in ms: its `execute` call less the decoding, when it
   * returned at once (it computes and awaits nothing) and the thread's CPU clock can be read. On a
   * loaded machine a 2 ms run can take 20 ms of wall time, off the CPU: the scheduler learns from this.
   */
  cpuMs?: number;
};

/** Given to every worker thread at start. */
export interface ThreadData {
  runTable: SharedArrayBuffer;
  logLevel: string;
  /** The project Cloud Logging's trace field names; unset, log lines carry the span fields only. */
  traceProject: string | undefined;
  /** Record the processors' HTTP requests as spans (tracing is exported). */
  recordSpans: boolean;
}
