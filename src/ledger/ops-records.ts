// What the operations state beside the ledger holds: processor pauses, the audit trail of operator
// actions, and bulk re-run jobs with one item per underwriting. zod schemas are the shapes: the
// stores read what they stored back through them, and the operations views answer them as they are.
import { z } from 'zod';

import { FailureCodeSchema } from '../events/processing-completed.js';
import { ProcessorIdSchema } from '../events/underwriting-created.js';

const iso = z.iso.datetime();
const count = z.number().int().nonnegative();

/** An operator's pause of one processor: while it holds, the processor is not called. */
export const PauseSchema = z.strictObject({
  processor_id: ProcessorIdSchema,
  paused_by: z.string(),
  paused_at: iso,
  reason: z.string(),
});
export type Pause = z.infer<typeof PauseSchema>;

export const AUDIT_ACTIONS = ['pause', 'resume', 'rerun', 'rerun_job', 'rerun_job_cancel'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

const JsonObjectSchema = z.record(z.string(), z.json());

/** One operator action: who, when, why, what it selected, what it did. */
export const AuditEntrySchema = z.strictObject({
  /** A ULID: entries sort by it too. */
  id: z.string(),
  at: iso,
  by: z.string(),
  action: z.enum(AUDIT_ACTIONS),
  /** The processor, underwriting or job acted on. */
  subject: z.string(),
  reason: z.string().nullable(),
  /** What it selected: processors, underwriting, a bulk selection. */
  selection: JsonObjectSchema,
  /** What it did: the pause lifted, the execution key, the job and its counts. */
  result: JsonObjectSchema,
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export const RERUN_STATUSES = ['failed', 'timeout'] as const;

/** Which runs a bulk re-run takes: the latest execution of each underwriting that has one. */
export const RerunSelectionSchema = z.strictObject({
  processors: z.array(ProcessorIdSchema).min(1).max(20),
  status: z.enum(RERUN_STATUSES),
  since: iso,
  until: iso,
  error_code: FailureCodeSchema.nullable(),
  error_text: z.string().min(1).max(200).nullable(),
});
export type RerunSelection = z.infer<typeof RerunSelectionSchema>;

export const RERUN_JOB_STATES = ['selecting', 'running', 'done', 'cancelled'] as const;
export type RerunJobState = (typeof RERUN_JOB_STATES)[number];

export const RerunCountsSchema = z.strictObject({
  /** Underwritings the selection found. */
  selected: count,
  /** Re-run requests published (each with its own execution key, minted before the publish). */
  requested: count,
  /** Re-runs published in which every selected processor completed. */
  finished: count,
  /** Re-runs published with a selected processor still FAILED or TIMEOUT, or no result in time. */
  failed: count,
  /** Not requested: the underwriting had a newer execution by then. */
  skipped: count,
});
export type RerunCounts = z.infer<typeof RerunCountsSchema>;
export const NO_COUNTS: RerunCounts = { selected: 0, requested: 0, finished: 0, failed: 0, skipped: 0 };

/** A bulk re-run job as the API shows it. */
export const RerunJobSchema = z.strictObject({
  id: z.string(),
  idempotency_key: z.string().nullable(),
  state: z.enum(RERUN_JOB_STATES),
  selection: RerunSelectionSchema,
  reason: z.string(),
  requested_by: z.string(),
  /** Re-run requests per second at most. */
  pace_per_second: z.number().positive(),
  created_at: iso,
  updated_at: iso,
  finished_at: iso.nullable(),
  cancelled_by: z.string().nullable(),
  cancelled_at: iso.nullable(),
  counts: RerunCountsSchema,
});
export type RerunJob = z.infer<typeof RerunJobSchema>;

/** A job as stored: besides what the API shows, who carries it on and until when, and whether work is left. */
export const StoredRerunJobSchema = RerunJobSchema.extend({
  owner: z.string().nullable(),
  /** Epoch ms; the carrier renews it while it works. */
  lease_until: z.number(),
  /** Work is left: underwritings to request (unless cancelled), or requested ones to follow. */
  active: z.boolean(),
});
export type StoredRerunJob = z.infer<typeof StoredRerunJobSchema>;

export const RERUN_ITEM_STATES = ['pending', 'requested', 'finished', 'failed', 'skipped'] as const;
export type RerunItemState = (typeof RERUN_ITEM_STATES)[number];

/** One underwriting of a job. */
export const RerunItemSchema = z.strictObject({
  /** The store's id of the item (from the underwriting id). */
  id: z.string(),
  underwriting_id: z.string(),
  /** The execution to re-run (its key), and the selected processors that matched in it. */
  of: z.string(),
  processors: z.array(ProcessorIdSchema),
  state: z.enum(RERUN_ITEM_STATES),
  /** The re-run's execution key, minted and stored before its request is published. */
  key: z.string().nullable(),
  /** Epoch ms of the request. */
  requested_at: z.number().nullable(),
  /** Whether the request's publish was confirmed (else the carrier publishes it again, same key). */
  published: z.boolean(),
  note: z.string().nullable(),
});
export type RerunItem = z.infer<typeof RerunItemSchema>;

/** A job's version as its store knows it (an update time, a counter): writes are conditional on it. */
export type JobVersion = unknown;

/** One atomic write to a job: its fields, counters added to, items put, and an audit entry. */
export interface JobChange {
  job?: Partial<Omit<StoredRerunJob, 'id' | 'counts'>>;
  counts?: Partial<RerunCounts>;
  items?: readonly RerunItem[];
  audit?: AuditEntry;
}

/** Pauses, beside the ledger. `fleet`: every instance sees them; `instance`: only this one. */
export interface PauseStore {
  readonly scope: OpsScope;
  /** Every pause, read from the store now. */
  list(): Promise<Pause[]>;
  /** Pauses (or pauses again, with a new reason) and records the action, in one write. */
  pause(pause: Pause, audit: AuditEntry): Promise<void>;
  /** Lifts a pause and records the action; resolves with the pause it lifted (none: nothing is written). */
  resume(processorId: string, audit: (lifted: Pause) => AuditEntry): Promise<Pause | undefined>;
}

export type OpsScope = 'fleet' | 'instance';

/** The trail of operator actions, newest first. */
export interface AuditStore {
  record(entry: AuditEntry): Promise<void>;
  /** One page, newest first; `before` is the id of the last entry of the page before. */
  list(options: { limit: number; before?: string | undefined }): Promise<AuditEntry[]>;
}

/** Bulk re-run jobs and their items. Every write to a job is conditional on its version. */
export interface RerunJobStore {
  /** Creates a job (and its audit entry); a job with that id already there is answered instead. */
  create(
    job: StoredRerunJob,
    audit: AuditEntry,
  ): Promise<{ created: true; version: JobVersion } | { created: false; job: StoredRerunJob }>;
  get(id: string): Promise<{ job: StoredRerunJob; version: JobVersion } | undefined>;
  /** The most recently created jobs first. */
  recent(limit: number): Promise<StoredRerunJob[]>;
  /** Ids of jobs with work left. */
  active(limit: number): Promise<string[]>;
  /** Writes `change` if the job is still at `version`; the new version, or `undefined` when it changed (or is gone). */
  commit(id: string, version: JobVersion, change: JobChange): Promise<JobVersion>;
  /** Items in a state, ordered by id, after `after`; `published` narrows `requested` ones. */
  items(
    id: string,
    state: RerunItemState,
    options: { limit: number; after?: string | undefined; published?: boolean },
  ): Promise<RerunItem[]>;
}

/** The operations state: one of each, with the scope they share. */
export interface OpsState {
  readonly scope: OpsScope;
  readonly pauses: PauseStore;
  readonly audit: AuditStore;
  readonly jobs: RerunJobStore;
}

/** The collections beside the ledger's (`LEDGER_COLLECTION`), and the subcollection of job items. */
export function opsCollections(ledgerCollection: string) {
  return {
    pauses: `${ledgerCollection}_pauses`,
    audit: `${ledgerCollection}_audit`,
    reruns: `${ledgerCollection}_reruns`,
    items: 'rerun_items',
  } as const;
}
