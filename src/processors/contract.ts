import { CONTRACT_VERSION } from '@processor-orchestrator/sdk';
import type { ExecuteFn } from '@processor-orchestrator/sdk';
import { z } from 'zod';

import { ProcessorIdSchema } from '../events/underwriting-created.js';

// The contract's types are the SDK's (what processor packages compile against); the schemas
// below validate a definition against them at discovery (tests/unit/contract.test.ts keeps the
// two equal).
export type {
  ExecuteFn,
  ProcessorContext,
  ProcessorDefinition,
  ProcessorResult,
} from '@processor-orchestrator/sdk';

/** The plugin contract this service implements: the SDK it is built with says which. */
export const SUPPORTED_CONTRACT_VERSION: string = CONTRACT_VERSION;

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

/** `major.minor.patch`, with an optional pre-release and build (semver 2.0). */
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

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

/** The plugin contract: a module's default export is a value of this shape (or an array of them). */
export const ProcessorDefinitionSchema = z.object({
  id: ProcessorIdSchema,
  version: z.string().min(1, 'version is required'),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  concurrency: ConcurrencyPolicySchema.optional(),
  retry: RetryPolicySchema.optional(),
  contractVersion: z
    .string()
    .regex(SEMVER, 'contractVersion must be a semantic version such as 1.0.0')
    .optional(),
  circuit: CircuitPolicySchema.optional(),
  execute: z.custom<ExecuteFn>((v) => typeof v === 'function', 'execute must be a function'),
});

/**
 * Whether a service implementing contract `supported` runs a processor built for `declared`: the
 * same major version (a newer minor too: it only adds), or a processor that does not say (taken to
 * be built for the service's own contract). Both are semantic versions.
 */
export function contractCompatible(declared: string | undefined, supported: string): boolean {
  return declared === undefined || major(declared) === major(supported);
}

/** The major version of a semantic version: `1` of `1.4.2`. */
export function major(version: string): number {
  return Number(version.split('.', 1)[0]);
}
