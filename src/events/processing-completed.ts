import { z } from 'zod';

import { ProcessorIdSchema } from './underwriting-created.js';

const seconds = z.number().nonnegative();
/**
 * How many times the processor was started for this entry: retries of a retryable failure, and
 * restarts of a run whose thread was ended by a neighbour, included (0: it never started, as a
 * processor that is not installed).
 */
const attempts = z.number().int().nonnegative();
const executionId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'a ULID');

/** A JSON object of factors, exactly as a processor returned it. */
export const FactorsSchema = z.record(z.string(), z.json());
/**
 * What a processor computes: an object of JSON values (strings, finite numbers, booleans, null,
 * arrays and objects of those), published as it is in `completed_processors[].factors`.
 */
export type Factors = z.infer<typeof FactorsSchema>;

export const CompletedProcessorSchema = z.strictObject({
  processor_id: ProcessorIdSchema,
  execution_id: executionId,
  execution_time: seconds,
  attempts,
  factors: FactorsSchema,
});

/**
 * Why a processor is FAILED, as a stable code of the error catalogue (docs/error-codes.md):
 * `PROCESSOR_FAILED` (it ran and threw, rejected, exited, ran out of memory or returned no
 * factors), `PROCESSOR_NOT_INSTALLED`, `PROCESSOR_PAUSED` (an operator paused it: not called) and
 * `PROCESSOR_CIRCUIT_OPEN` (its circuit breaker is open: not called). New codes may be added.
 */
export const FAILURE_CODES = [
  'PROCESSOR_FAILED',
  'PROCESSOR_NOT_INSTALLED',
  'PROCESSOR_PAUSED',
  'PROCESSOR_CIRCUIT_OPEN',
] as const;
export const FailureCodeSchema = z.enum(FAILURE_CODES);
export type FailureCode = z.infer<typeof FailureCodeSchema>;

export const FailedProcessorSchema = z.strictObject({
  processor_id: ProcessorIdSchema,
  execution_id: executionId,
  execution_time: seconds,
  attempts,
  error_message: z.string().min(1),
  /**
   * Set on every entry this service publishes (additive: entries recorded by a version before it
   * have none). Consumers tell "paused" and "circuit open" from "broke" by it.
   */
  error_code: FailureCodeSchema.optional(),
});

/**
 * What ended a TIMEOUT at the deadline: `signal` (it settled once `ctx.signal` aborted, within the
 * grace) or `terminated` (its worker thread was ended).
 */
export const TimeoutPhaseSchema = z.enum(['signal', 'terminated']);
export type TimeoutPhase = z.infer<typeof TimeoutPhaseSchema>;

export const TimeoutProcessorSchema = z.strictObject({
  processor_id: ProcessorIdSchema,
  execution_id: executionId,
  execution_time: seconds,
  attempts,
  timeout_ms: z.number().int().positive(),
  timeout_phase: TimeoutPhaseSchema,
});

/**
 * The group an entry is published in (`completed_processors`, `failed_processors`,
 * `timeout_processors`): a run's status wherever it is recorded or shown.
 */
export const RunStatusSchema = z.enum(['completed', 'failed', 'timeout']);
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const OverallStatusSchema = z.enum(['success', 'partial_success', 'failed']);
export type OverallStatus = z.infer<typeof OverallStatusSchema>;

/**
 * `processing.completed`, the outbound event (message data, UTF-8 JSON). Strict: it is validated
 * before it leaves, and nothing we did not mean to publish gets through. Times are seconds;
 * `total_execution_time` is wall time from receipt to completion.
 */
export const ProcessingCompletedSchema = z.strictObject({
  event: z.literal('processing.completed'),
  underwriting_id: z.string().min(1),
  completed_at: z.iso.datetime(),
  overall_status: OverallStatusSchema,
  summary: z.strictObject({
    total_processors: z.number().int().nonnegative(),
    completed_count: z.number().int().nonnegative(),
    failed_count: z.number().int().nonnegative(),
    timeout_count: z.number().int().nonnegative(),
    total_execution_time: seconds,
  }),
  completed_processors: z.array(CompletedProcessorSchema),
  failed_processors: z.array(FailedProcessorSchema),
  timeout_processors: z.array(TimeoutProcessorSchema),
  /**
   * Only on the result of an operator's re-run: the key of the execution it re-ran (its
   * `event_id`, else its Pub/Sub message id). Entries it did not run are that execution's, as they were.
   */
  rerun_of: z.string().min(1).optional(),
});
export type ProcessingCompleted = z.infer<typeof ProcessingCompletedSchema>;
export type CompletedProcessor = z.infer<typeof CompletedProcessorSchema>;
export type FailedProcessor = z.infer<typeof FailedProcessorSchema>;
export type TimeoutProcessor = z.infer<typeof TimeoutProcessorSchema>;
