// What the operations routes answer, and what the /ops page renders: one shape for both, so the
// page shows exactly what the API says. Outbound, so strict.
import { z } from 'zod';

import { OverallStatusSchema } from '../events/processing-completed.js';

const iso = z.iso.datetime();
const seconds = z.number().nonnegative();

/** One processor's part of an execution, as the ledger recorded it. */
export const ProcessorRunViewSchema = z.strictObject({
  processor_id: z.string(),
  status: z.enum(['completed', 'failed', 'timeout']),
  attempts: z.number().int().nonnegative(),
  /** Every execution id this processor ran under in this execution (one per delivery that ran it). */
  execution_ids: z.array(z.string()),
  /** Seconds between the event's start and this run's start (concurrency limits, busy cores). */
  queue_wait: seconds.nullable(),
  /** Seconds of run time, as published. */
  run_time: seconds,
  error_message: z.string().nullable(),
  timeout_phase: z.enum(['signal', 'terminated']).nullable(),
  /** The outcome was taken from an earlier delivery or execution, not run by this one. */
  reused: z.boolean(),
});
export type ProcessorRunView = z.infer<typeof ProcessorRunViewSchema>;

/** One execution of an underwriting: a delivered event, or a re-run of one. */
export const ExecutionViewSchema = z.strictObject({
  key: z.string(),
  underwriting_id: z.string(),
  source_message_id: z.string(),
  received_at: iso,
  finished_at: iso.nullable(),
  deliveries: z.number().int().nonnegative(),
  /** `null` while it runs. */
  overall_status: OverallStatusSchema.nullable(),
  published_message_id: z.string().nullable(),
  /** The earlier execution's key when this one is a re-run, with who asked and why. */
  rerun: z
    .strictObject({
      of: z.string(),
      requested_by: z.string(),
      reason: z.string(),
      processors: z.array(z.string()),
    })
    .nullable(),
  processors: z.array(ProcessorRunViewSchema),
});
export type ExecutionView = z.infer<typeof ExecutionViewSchema>;

/** `GET /ops/underwritings/{id}`: every execution, newest first. */
export const UnderwritingViewSchema = z.strictObject({
  underwriting_id: z.string(),
  executions: z.array(ExecutionViewSchema),
});
export type UnderwritingView = z.infer<typeof UnderwritingViewSchema>;

/** `GET /ops/executions` filters. `status=timeout` means "has a timed-out processor". */
export const ExecutionQuerySchema = z.strictObject({
  status: z.enum(['success', 'failed', 'partial_success', 'timeout']).optional(),
  processor: z.string().optional(),
  since: iso.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional(),
});
export type ExecutionQuery = z.infer<typeof ExecutionQuerySchema>;

/** `GET /ops/executions`: one page, newest first; `next_cursor` is `null` on the last page. */
export const ExecutionPageSchema = z.strictObject({
  executions: z.array(ExecutionViewSchema),
  next_cursor: z.string().nullable(),
});
export type ExecutionPage = z.infer<typeof ExecutionPageSchema>;

export const STATS_WINDOWS = ['1h', '24h'] as const;
export type StatsWindow = (typeof STATS_WINDOWS)[number];

/** `GET /ops/stats?window=`: per-processor figures over a bounded sample of recent executions. */
export const StatsViewSchema = z.strictObject({
  window: z.enum(STATS_WINDOWS),
  /** What the figures were computed from (the read is bounded; see the route). */
  sample: z.strictObject({
    executions: z.number().int(),
    limit: z.number().int(),
    truncated: z.boolean(),
    as_of: iso,
  }),
  /** Events being processed by this instance now. */
  in_flight: z.number().int().nonnegative(),
  processors: z.array(
    z.strictObject({
      processor_id: z.string(),
      runs: z.number().int().nonnegative(),
      completed_rate: z.number().min(0).max(1),
      failed_rate: z.number().min(0).max(1),
      timeout_rate: z.number().min(0).max(1),
      p50_run_time: seconds.nullable(),
      p95_run_time: seconds.nullable(),
    }),
  ),
});
export type StatsView = z.infer<typeof StatsViewSchema>;

/** `POST /ops/underwritings/{id}/rerun` body. */
export const RerunRequestSchema = z.strictObject({
  processors: z.union([z.literal('failed'), z.array(z.string().min(1)).min(1)]),
  reason: z.string().trim().min(1).max(500),
});
export type RerunRequest = z.infer<typeof RerunRequestSchema>;

/** Who is asking, once authenticated: operators may re-run, readers only read. */
export interface OpsIdentity {
  email: string;
  role: 'reader' | 'operator';
}

/**
 * What the operations routes and the page are built on. The routes (`src/ops/routes.ts`) and the
 * page (`src/ops/page.ts`) both take one; neither reads the ledger itself.
 */
export interface OpsApi {
  /** Throws NOT_FOUND (404) when the ledger has no execution of it. */
  underwriting(id: string): Promise<UnderwritingView>;
  executions(query: ExecutionQuery): Promise<ExecutionPage>;
  stats(window: StatsWindow): Promise<StatsView>;
  /** Publishes the re-run request; resolves with the new execution's key (the route answers 202). */
  rerun(underwritingId: string, request: RerunRequest, by: OpsIdentity): Promise<{ key: string }>;
}
