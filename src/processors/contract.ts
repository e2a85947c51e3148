import { z } from 'zod';

import type { Logger } from '../logging.js';
import type { Document } from '../events/document.js';
import type { Factors } from '../events/processing-completed.js';
import { ProcessorIdSchema } from '../events/underwriting-created.js';

/**
 * What a processor's `execute` receives. It runs inside a pool worker thread.
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
  readonly log: Logger;
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
 * At most `limit` runs of this processor at once on one instance. With `key`, the limit is shared
 * by every processor naming the same key (one external API that allows 5 calls at once, say); they
 * must all name the same `limit`. Waiting for it is queue time, not run time.
 */
export const ConcurrencyPolicySchema = z.strictObject({
  limit: z.number().int().min(1).max(10_000),
  key: z
    .string()
    .regex(/^[\w.:-]{1,100}$/, 'key must be 1–100 letters, digits or _.:-')
    .optional(),
});
export type ConcurrencyPolicy = z.infer<typeof ConcurrencyPolicySchema>;

/**
 * A run that fails with a retryable error (`RetryableError`, or any thrown value with
 * `retryable: true`) runs again after exponential backoff with full jitter (a random wait up to
 * `backoffMs × 2^(n−1)`, at most `maxBackoffMs`; a `retryAfterMs` on the error is waited instead,
 * capped the same), up to `attempts` runs in all. Other errors and TIMEOUTs are not retried.
 * `timeoutMs` applies to each attempt.
 */
export const RetryPolicySchema = z
  .strictObject({
    attempts: z.number().int().min(1).max(10),
    backoffMs: z.number().int().min(0).max(600_000).default(200),
    maxBackoffMs: z.number().int().min(0).max(600_000).default(10_000),
  })
  .refine((r) => r.maxBackoffMs >= r.backoffMs, 'retry.maxBackoffMs must be at least retry.backoffMs');
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;

/**
 * A circuit breaker, per processor and per instance: when FAILED and TIMEOUT runs reach
 * `failureRate` (0–1] of at least `minRuns` runs that ended within the last `windowMs`, the
 * circuit opens and every run fails at once with `PROCESSOR_CIRCUIT_OPEN`, without calling the
 * processor. After `openMs` one trial run is let through: its success closes the circuit, its
 * failure opens it again for `openMs`. A run counts once, with its final outcome: retries of the
 * `retry` policy are not runs of their own.
 */
export const CircuitPolicySchema = z.strictObject({
  failureRate: z.number().gt(0, 'circuit.failureRate must be above 0').max(1),
  minRuns: z.number().int().min(1).max(100_000),
  windowMs: z.number().int().min(1_000).max(86_400_000),
  openMs: z.number().int().min(1_000).max(86_400_000),
});
export type CircuitPolicy = z.infer<typeof CircuitPolicySchema>;

/** The plugin contract: a module's default export is a value of this shape. */
export const ProcessorDefinitionSchema = z.object({
  id: ProcessorIdSchema,
  version: z.string().min(1, 'version is required'),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  concurrency: ConcurrencyPolicySchema.optional(),
  retry: RetryPolicySchema.optional(),
  circuit: CircuitPolicySchema.optional(),
  execute: z.custom<ExecuteFn>((v) => typeof v === 'function', 'execute must be a function'),
});

/**
 * A processor: `id` (what purchases and results name; `/^[a-z0-9_]+$/`), `version`, an optional
 * `timeoutMs` (else the orchestrator's default), optional `concurrency`, `retry` and `circuit`
 * policies, and `execute`.
 */
export type ProcessorDefinition = z.input<typeof ProcessorDefinitionSchema>;
