// The plugin contract's types: what a processor module declares, receives and returns. Plain
// TypeScript with no dependency, so that a processor package needs nothing but this SDK; the
// service validates definitions against the same shapes at start-up (a test keeps the two equal).

/** A JSON value, as factors are published: finite numbers, strings, booleans, null, arrays, objects. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A processor's factors: a JSON object, published as it is in `processing.completed`. */
export type Factors = { [key: string]: JsonValue };

/**
 * One document's metadata, as a processor receives it in `ctx.documents`: `document_id`,
 * `document_type` (e.g. `bank_statement`), `metadata` (an object whose shape depends on the
 * type), and optional `content` and `processing_status`.
 */
export interface Document {
  document_id: string;
  document_type: string;
  metadata: Record<string, unknown>;
  content?: string | undefined;
  processing_status?: string | undefined;
}

/** One level of `ctx.log`: `log.info('text')` or `log.info({ fields }, 'text')`. */
export interface LogFn {
  (message: string, ...args: unknown[]): void;
  (fields: object, message?: string, ...args: unknown[]): void;
}

/**
 * `ctx.log`: a pino logger bound to the run (processor, execution and underwriting ids). Its
 * lines reach the service's structured logs; secrets must never be logged.
 */
export interface ProcessorLogger {
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): ProcessorLogger;
}

/**
 * What a processor's `execute` receives. It runs inside a worker thread of the service's pool.
 */
export interface ProcessorContext {
  /** The underwriting being processed. */
  readonly underwritingId: string;
  /** ULID minted when this run was dispatched; the result reports it whatever the outcome. */
  readonly executionId: string;
  /** Metadata of every document of the underwriting that the document source has. */
  readonly documents: readonly Document[];
  /** Ids of the underwriting's documents that the source does not have. */
  readonly missingDocuments: readonly string[];
  /**
   * Aborted at the processor's deadline. Pass it to `fetch` and other cancellable calls and stop
   * when it aborts; a processor still running a short grace later is terminated. Either way the
   * run is reported as TIMEOUT.
   */
  readonly signal: AbortSignal;
  /** A pino logger bound to this run (processor, execution and underwriting ids). */
  readonly log: ProcessorLogger;
}

/** What `execute` returns: a JSON object of factors. Anything else is a FAILED run. */
export interface ProcessorResult {
  factors: Factors;
}

/**
 * A processor's work: called once per run with its context, in a worker thread. Return (or
 * resolve to) `{ factors }` to COMPLETE; throw or reject to FAIL with the error's message; still
 * running at the deadline is TIMEOUT, whatever it returns later.
 */
export type ExecuteFn = (ctx: ProcessorContext) => Promise<ProcessorResult> | ProcessorResult;

/**
 * At most `limit` runs of this processor at once on one instance (1–10 000). With `key`
 * (1–100 letters, digits or `_.:-`), the limit is shared by every processor naming the same key
 * (one external API that allows 5 calls at once, say); they must all give it the same `limit`.
 * Waiting for it is queue time, not run time.
 */
export interface ConcurrencyPolicy {
  limit: number;
  key?: string | undefined;
}

/**
 * A run that fails with a retryable error (`RetryableError`, or any thrown value with
 * `retryable: true`) runs again after exponential backoff with full jitter (a random wait up to
 * `backoffMs × 2^(n−1)`, default 200 ms, at most `maxBackoffMs`, default 10 s; a `retryAfterMs`
 * on the error is waited instead, capped the same), up to `attempts` runs in all (1–10). Other
 * errors and TIMEOUTs are not retried. `timeoutMs` applies to each attempt.
 */
export interface RetryPolicy {
  attempts: number;
  backoffMs?: number | undefined;
  maxBackoffMs?: number | undefined;
}

/**
 * A circuit breaker for an outage: when FAILED and TIMEOUT runs reach `failureRate` (0–1) of at
 * least `minRuns` runs within `windowMs`, runs fail at once with `PROCESSOR_CIRCUIT_OPEN`, without
 * calling the processor; after `openMs` one trial run decides whether it closes again.
 */
export interface CircuitPolicy {
  failureRate: number;
  minRuns: number;
  windowMs: number;
  openMs: number;
}

/**
 * A processor: the default export of its module (or one element of an array default export,
 * for a package that ships several). A plain object of this shape is a valid processor, in
 * TypeScript or plain JavaScript; `defineProcessor` adds the types and stamps `contractVersion`.
 */
export interface ProcessorDefinition {
  /** Stable; what purchases and results name: lower-case letters, digits and `_` (`cash_flow_v1`). */
  id: string;
  /** Your release of the processor (`1.2.0`); the `processors` command lists it. */
  version: string;
  /** The deadline of one run, up to 1 h; else the service's `PROCESSOR_TIMEOUT_MS`. */
  timeoutMs?: number | undefined;
  concurrency?: ConcurrencyPolicy | undefined;
  retry?: RetryPolicy | undefined;
  circuit?: CircuitPolicy | undefined;
  /**
   * The plugin contract the processor is built for (`CONTRACT_VERSION`); `defineProcessor` sets
   * it. The service refuses another major version at start-up. Without it (a plain object that
   * does not say), the processor is taken to be built for the service's own contract.
   */
  contractVersion?: string | undefined;
  execute: ExecuteFn;
}
