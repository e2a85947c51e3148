// How the Firestore ledger reads what it stored: every document through a converter that parses
// it with a zod schema built from the event schemas (src/events), so a field or an enum is
// declared once and nothing is read with `as`. A document that does not parse is an error naming
// it (UNEXPECTED: a handler nacks the event, a route answers 500), never a crash. Inbound: fields
// a later version adds are tolerated and dropped.
import {
  Timestamp,
  type DocumentData,
  type DocumentSnapshot,
  type FirestoreDataConverter,
  type QueryDocumentSnapshot,
} from '@google-cloud/firestore';
import { z } from 'zod';

import { OrchestratorError } from '../../errors.js';
import {
  CompletedProcessorSchema,
  FailedProcessorSchema,
  OverallStatusSchema,
  ProcessingCompletedSchema,
  RunStatusSchema,
  TimeoutProcessorSchema,
} from '../../events/processing-completed.js';
import {
  ProcessorIdSchema,
  RerunOfSchema,
  UnderwritingCreatedSchema,
} from '../../events/underwriting-created.js';
import { DEAD_LETTER_STATES } from '../dead-letters.js';
import type { RecordedOutcome } from '../ledger.js';

const timestamp = z.instanceof(Timestamp);
const entry = CompletedProcessorSchema.shape;
const event = UnderwritingCreatedSchema.shape.data.shape;
const count = ProcessingCompletedSchema.shape.summary.shape.completed_count;

/** One processor's outcome in an execution document (`processors.{id}`). */
export const StoredOutcomeSchema = z.object({
  status: RunStatusSchema,
  /** Runs across deliveries. */
  attempts: entry.attempts,
  execution_id: entry.execution_id,
  /** Seconds, as published. */
  execution_time: entry.execution_time,
  /**
   * The published entry as JSON text (exact: Firestore has no arrays of arrays, and reserves
   * some field names), or `null` when it is stored in `parts` documents.
   */
  entry: z.string().nullable(),
  /** How many `parts` documents hold the entry (0 when inline). */
  parts: z.number().int().nonnegative(),
  /** Every execution id it ran under in this execution, oldest first (absent: `[execution_id]`). */
  execution_ids: z.array(entry.execution_id).optional(),
  /** Seconds from the event's receipt to the run's start, when measured. */
  queue_wait: z.number().nullable().optional(),
  /** Taken from an earlier delivery or execution as it was. */
  reused: z.boolean().optional(),
});
export type StoredOutcome = z.infer<typeof StoredOutcomeSchema>;

/**
 * One execution in Firestore: `{LEDGER_COLLECTION}/{sha256(key)}`. Everything an event writes is
 * in this one document (and, for results too large for it, its `parts` subcollection), so every
 * write is per event: no counter per instance or per hour to become a hot document.
 */
export const StoredExecutionSchema = z.object({
  key: z.string(),
  underwriting_id: event.underwriting_id,
  /** The message id of the first delivery. */
  source_message_id: z.string(),
  state: z.enum(['running', 'published']),
  /** The delivery holding the key, and until when (it renews this while it works). */
  owner: z.string(),
  lease_until: timestamp,
  deliveries: z.number().int().nonnegative(),
  created_at: timestamp,
  updated_at: timestamp,
  /** When the TTL policy deletes it: `LEDGER_TTL_DAYS` after its creation. */
  expireAt: timestamp,
  /** Processor id → its outcome; exempt from indexing (large, and queried per document). */
  processors: z.record(ProcessorIdSchema, StoredOutcomeSchema),
  /** Set when published: what the operations queries filter on (see docs/ledger.md). */
  published_at: timestamp.optional(),
  completed_at: timestamp.optional(),
  overall_status: OverallStatusSchema.optional(),
  processor_ids: z.array(ProcessorIdSchema).optional(),
  has_timeout: z.boolean().optional(),
  /** What `outcomeTags` finds of the FAILED and TIMEOUT entries (`P/failed/CODE`, …). */
  outcome_tags: z.array(z.string()).optional(),
  completed_count: count.optional(),
  failed_count: count.optional(),
  timeout_count: count.optional(),
  /** The event's documents and organization (what a re-run sends again). */
  documents: event.documents.optional(),
  organization_id: event.organization_id,
  /** Set on an operator's re-run: the earlier execution's key, the processors, who and why. */
  rerun: RerunOfSchema.optional(),
  /** Set with `state: published`: the id Pub/Sub gave the published message. */
  published_message_id: z.string().nullable().optional(),
});
export type StoredExecution = z.infer<typeof StoredExecutionSchema>;

/** One slice of an entry too large for the execution document (`parts/{processor}-{execution}-{i}`). */
export const StoredPartSchema = z.object({ data: z.instanceof(Buffer), expireAt: timestamp });
export type StoredPart = z.infer<typeof StoredPartSchema>;

/** A poison message's record, beside the executions: `dead-letter-{sha256(message id)}` (docs/ledger.md). */
export const StoredDeadLetterSchema = z.object({
  kind: z.literal('dead-letter'),
  source_message_id: z.string(),
  state: z.enum(DEAD_LETTER_STATES),
  owner: z.string(),
  lease_until: timestamp,
  created_at: timestamp,
  updated_at: timestamp,
  expireAt: timestamp,
});
export type StoredDeadLetter = z.infer<typeof StoredDeadLetterSchema>;

/** A stored document that does not parse: the error names it, and says what is wrong. */
export function unreadable(path: string, what: string, error: z.ZodError): OrchestratorError {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return new OrchestratorError(
    'UNEXPECTED',
    `execution ledger: document ${path} is not ${what} this version reads (${where}${issue?.message ?? 'invalid'})`,
    { cause: error },
  );
}

const PART = 'a part of an entry';

/** A document read through `schema`: its fields, or an error naming it. */
function parsed<T>(path: string, data: unknown, what: string, schema: z.ZodType<T>): T {
  const result = schema.safeParse(data);
  if (!result.success) throw unreadable(path, what, result.error);
  return result.data;
}

/** Reads documents through `schema` (see the top of this file); writes them as they are. */
function converter<T extends DocumentData>(what: string, schema: z.ZodType<T>): FirestoreDataConverter<T> {
  return {
    toFirestore: (model: DocumentData) => model,
    fromFirestore: (snapshot: QueryDocumentSnapshot) =>
      parsed(snapshot.ref.path, snapshot.data(), what, schema),
  };
}

/** A part as read by `getAll` (which the client does not type by converter); `undefined` when missing. */
export function partOf(snapshot: DocumentSnapshot): StoredPart | undefined {
  return snapshot.exists ? parsed(snapshot.ref.path, snapshot.data(), PART, StoredPartSchema) : undefined;
}
export const executionConverter = converter('an execution', StoredExecutionSchema);
export const partConverter = converter(PART, StoredPartSchema);
export const deadLetterConverter = converter("a poison message's record", StoredDeadLetterSchema);

/** Every execution id an outcome ran under (an outcome stored before the list was kept: its own). */
export const executionIdsOf = (stored: StoredOutcome): string[] =>
  stored.execution_ids ?? [stored.execution_id];

const JsonObjectSchema = z.record(z.string(), z.unknown());

/**
 * A stored outcome's entry (its JSON text) back as the entry that was published; `undefined`
 * when it does not parse (written by an incompatible version): its processor then simply runs
 * again.
 */
export function decodeOutcome(stored: StoredOutcome, json: string): RecordedOutcome | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const fields = JsonObjectSchema.safeParse(value);
  if (!fields.success) return undefined;
  // A record written before entries carried `attempts` has it beside the entry.
  const withAttempts = { attempts: stored.attempts, ...fields.data };
  switch (stored.status) {
    case 'completed': {
      const parsed = CompletedProcessorSchema.safeParse(withAttempts);
      return parsed.success ? { status: 'completed', ...parsed.data } : undefined;
    }
    case 'failed': {
      const parsed = FailedProcessorSchema.safeParse(withAttempts);
      return parsed.success ? { status: 'failed', ...parsed.data } : undefined;
    }
    case 'timeout': {
      const parsed = TimeoutProcessorSchema.safeParse(withAttempts);
      return parsed.success ? { status: 'timeout', ...parsed.data } : undefined;
    }
  }
}
