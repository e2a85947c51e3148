// What the operations routes answer, and what the /ops page renders: one shape for both, so the
// page shows exactly what the API says. Outbound, so strict.
import { z } from 'zod';

import {
  CompletedProcessorSchema,
  FailedProcessorSchema,
  FailureCodeSchema,
  OverallStatusSchema,
  RunStatusSchema,
  TimeoutPhaseSchema,
} from '../events/processing-completed.js';
import { ProcessorIdSchema } from '../events/underwriting-created.js';
import {
  AuditEntrySchema,
  PauseSchema,
  RERUN_STATUSES,
  RerunJobSchema,
  RerunSelectionSchema,
  type AuditEntry,
  type OpsScope,
  type Pause,
  type RerunJob,
} from '../ledger/ops-records.js';

const iso = z.iso.datetime();
/** Seconds, as an entry of `processing.completed` counts them. */
const seconds = CompletedProcessorSchema.shape.execution_time;

// The fields of a run and an execution are those of the events (src/events); the view shows what
// the ledger recorded of them (src/ledger/history.ts), as the API answers it.

/** One processor's part of an execution, as the ledger recorded it. */
export const ProcessorRunViewSchema = z.strictObject({
  processor_id: z.string(),
  status: RunStatusSchema,
  attempts: CompletedProcessorSchema.shape.attempts,
  /** Every execution id this processor ran under in this execution (one per delivery that ran it). */
  execution_ids: z.array(z.string()),
  /** Seconds between the event's start and this run's start (concurrency limits, busy cores). */
  queue_wait: seconds.nullable(),
  /** Seconds of run time, as published. */
  run_time: seconds,
  error_message: FailedProcessorSchema.shape.error_message.nullable(),
  /** A FAILED run's code: `PROCESSOR_FAILED`, `PROCESSOR_PAUSED`, `PROCESSOR_CIRCUIT_OPEN`, …; else `null`. */
  error_code: FailureCodeSchema.nullable(),
  timeout_phase: TimeoutPhaseSchema.nullable(),
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
      /** The bulk re-run job that asked for it, if one did. */
      job: z.string().nullable(),
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

const text = (max: number) => z.string().trim().min(1).max(max);

/**
 * `GET /ops/executions` filters; each narrows. `status`: the overall status (`timeout`: has a
 * timed-out processor). `outcome`, `error_code`, `error`: a FAILED (or TIMEOUT) entry, of
 * `processor` when it is set, else of any processor; `error` is text in its message, in any case.
 * `underwriting`: an underwriting id prefix (the page is then ordered by underwriting id).
 */
export const ExecutionQuerySchema = z
  .strictObject({
    status: z.enum(['success', 'failed', 'partial_success', 'timeout']).optional(),
    processor: z.string().optional(),
    outcome: z.enum(RERUN_STATUSES).optional(),
    error_code: FailureCodeSchema.optional(),
    error: text(200).optional(),
    underwriting: text(200).optional(),
    since: iso.optional(),
    until: iso.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().optional(),
  })
  .refine((q) => q.outcome !== 'timeout' || (q.error_code === undefined && q.error === undefined), {
    message: 'error_code and error are about FAILED entries: not with outcome=timeout',
    path: ['outcome'],
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
      /** Entries of runs that were not called (paused, circuit open): not runs, not in the rates. */
      skipped: z.number().int().nonnegative(),
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

/** `POST /ops/processors/{id}/pause` body. */
export const PauseRequestSchema = z.strictObject({ reason: text(500) });
/** `POST /ops/processors/{id}/resume` and `POST /ops/reruns/{job}/cancel` body. */
export const OptionalReasonSchema = z.strictObject({ reason: text(500).optional() });

/** Whether what the operations state holds is seen by every instance, and what that means. */
const scope = {
  scope: z.enum(['fleet', 'instance']),
  /** Set with `LEDGER=memory`: the state is this instance's only. */
  note: z.string().nullable(),
};

/** What a pause or resume did. */
export const PauseAnswerSchema = z.strictObject({
  processor_id: z.string(),
  /** The pause in force now (pause), or the one lifted (resume). */
  pause: PauseSchema,
  ...scope,
});
export type PauseAnswer = z.infer<typeof PauseAnswerSchema>;

const figures = z
  .strictObject({
    runs: z.number().int().nonnegative(),
    skipped: z.number().int().nonnegative(),
    failed_rate: z.number().min(0).max(1),
    timeout_rate: z.number().min(0).max(1),
    p95_run_time: seconds.nullable(),
  })
  .nullable();

export const CircuitViewSchema = z.strictObject({
  processor_id: z.string(),
  state: z.enum(['closed', 'open', 'half_open']),
  since: iso.nullable(),
  until: iso.nullable(),
  runs: z.number().int().nonnegative(),
  failures: z.number().int().nonnegative(),
  policy: z.strictObject({
    failureRate: z.number(),
    minRuns: z.number().int(),
    windowMs: z.number().int(),
    openMs: z.number().int(),
  }),
});
export type CircuitView = z.infer<typeof CircuitViewSchema>;

export const PROCESSOR_STATES = ['active', 'paused', 'circuit_open', 'circuit_half_open'] as const;

/**
 * `GET /ops/processors`: every processor installed (or seen in the last day), its state, and its
 * figures over the last hour and day. Pauses are the fleet's (with `LEDGER=firestore`); circuits
 * are those of the instance that answered.
 */
export const ProcessorsViewSchema = z.strictObject({
  ...scope,
  as_of: iso,
  in_flight: z.number().int().nonnegative(),
  samples: z.strictObject({ '1h': StatsViewSchema.shape.sample, '24h': StatsViewSchema.shape.sample }),
  processors: z.array(
    z.strictObject({
      processor_id: z.string(),
      installed: z.boolean(),
      state: z.enum(PROCESSOR_STATES),
      pause: PauseSchema.nullable(),
      circuit: CircuitViewSchema.nullable(),
      last_hour: figures,
      last_day: figures,
    }),
  ),
});
export type ProcessorsView = z.infer<typeof ProcessorsViewSchema>;

/** `POST /ops/reruns` body: a selection, why, and whether only to count (`dry_run`). */
export const BulkRerunRequestSchema = z
  .strictObject({
    processors: z.array(ProcessorIdSchema).min(1).max(20),
    status: z.enum(RERUN_STATUSES).default('failed'),
    since: iso,
    /** Default: now. */
    until: iso.optional(),
    error_code: FailureCodeSchema.optional(),
    error_text: text(200).optional(),
    reason: text(500),
    dry_run: z.boolean().default(false),
    /** Re-run requests per second at most (default 2). */
    pace_per_second: z.number().min(0.1).max(50).optional(),
  })
  .refine((r) => r.status === 'failed' || (r.error_code === undefined && r.error_text === undefined), {
    message: 'error_code and error_text are about FAILED entries: not with status=timeout',
    path: ['status'],
  });
export type BulkRerunRequest = z.infer<typeof BulkRerunRequestSchema>;

const CandidateSchema = z.strictObject({
  underwriting_id: z.string(),
  of: z.string(),
  processors: z.array(z.string()),
  completed_at: iso,
  error_message: z.string().nullable(),
});

/** `POST /ops/reruns` with `dry_run: true`: what a job would re-run. */
export const DryRunViewSchema = z.strictObject({
  dry_run: z.literal(true),
  selection: RerunSelectionSchema,
  /** Underwritings that would be re-run. */
  count: z.number().int().nonnegative(),
  /** The selection is too large for one job (see the limits): narrow it. */
  truncated: z.boolean(),
  /** Executions read to select them. */
  scanned: z.number().int().nonnegative(),
  sample: z.array(CandidateSchema),
});
export type DryRunView = z.infer<typeof DryRunViewSchema>;

/** A job, with whether this request created it (a repeat with the same Idempotency-Key did not). */
export const JobAnswerSchema = z.strictObject({ job: RerunJobSchema, created: z.boolean(), ...scope });
export type JobAnswer = z.infer<typeof JobAnswerSchema>;

export const JobsViewSchema = z.strictObject({ jobs: z.array(RerunJobSchema), ...scope });
export type JobsView = z.infer<typeof JobsViewSchema>;

/** `GET /ops/audit`: newest first; `before` pages on. */
export const AuditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.string().min(1).max(100).optional(),
});
export type AuditQuery = z.infer<typeof AuditQuerySchema>;

export const AuditPageSchema = z.strictObject({
  entries: z.array(AuditEntrySchema),
  /** The `before` of the next page; `null` on the last. */
  next_before: z.string().nullable(),
  ...scope,
});
export type AuditPage = z.infer<typeof AuditPageSchema>;

/** Who is asking, once authenticated: operators may act (re-run, pause, bulk re-run), readers only read. */
export interface OpsIdentity {
  email: string;
  role: 'reader' | 'operator';
}

/**
 * What the operations routes and the page are built on. The routes (`src/ops/routes.ts`) and the
 * page (`src/ops/page.ts`) both take one; neither reads the ledger itself. Every action is
 * recorded in the audit trail.
 */
export interface OpsApi {
  /** Throws NOT_FOUND (404) when the ledger has no execution of it. */
  underwriting(id: string): Promise<UnderwritingView>;
  executions(query: ExecutionQuery): Promise<ExecutionPage>;
  stats(window: StatsWindow): Promise<StatsView>;
  /** Publishes the re-run request; resolves with the new execution's key (the route answers 202). */
  rerun(underwritingId: string, request: RerunRequest, by: OpsIdentity): Promise<{ key: string }>;
  /** Processors, their state and figures (the page's table and banner). */
  processors(): Promise<ProcessorsView>;
  /** NOT_FOUND for a processor that is not installed. */
  pause(processorId: string, reason: string, by: OpsIdentity): Promise<PauseAnswer>;
  /** NOT_FOUND when it is not paused. */
  resume(processorId: string, reason: string | undefined, by: OpsIdentity): Promise<PauseAnswer>;
  /** A dry run, or the job (created, or the one the Idempotency-Key made before). */
  bulkRerun(
    request: BulkRerunRequest,
    by: OpsIdentity,
    idempotencyKey: string | undefined,
  ): Promise<DryRunView | JobAnswer>;
  job(id: string): Promise<JobAnswer>;
  jobs(): Promise<JobsView>;
  /** RERUN_REFUSED (409) when the job is over; a cancelled job is answered as it is. */
  cancelJob(id: string, reason: string | undefined, by: OpsIdentity): Promise<JobAnswer>;
  audit(query: AuditQuery): Promise<AuditPage>;
}

export type { AuditEntry, OpsScope, Pause, RerunJob };
