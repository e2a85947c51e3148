import type { Timestamp } from '@google-cloud/firestore';

import {
  CompletedProcessorSchema,
  FailedProcessorSchema,
  TimeoutProcessorSchema,
  type ProcessingCompleted,
} from '../events/processing-completed.js';
import type { RerunOf } from '../events/underwriting-created.js';
import { failureCode, type RunOutcome } from '../processors/run.js';
import { entryFacts, outcomeTags, type ExecutionRecord, type RecordedRun } from './history.js';
import type { RecordedOutcome } from './ledger.js';

/**
 * One execution in Firestore: `{LEDGER_COLLECTION}/{sha256(key)}`. Everything an event writes is
 * in this one document (and, for results too large for it, its `parts` subcollection), so every
 * write is per event: no counter per instance or per hour to become a hot document.
 */
export interface StoredExecution {
  key: string;
  underwriting_id: string;
  /** The message id of the first delivery. */
  source_message_id: string;
  state: 'running' | 'published';
  /** The delivery holding the key, and until when (it renews this while it works). */
  owner: string;
  lease_until: Timestamp;
  deliveries: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** When the TTL policy deletes it: `LEDGER_TTL_DAYS` after its creation. */
  expireAt: Timestamp;
  /** Processor id → its outcome; exempt from indexing (large, and queried per document). */
  processors: Record<string, StoredOutcome>;
  /** Set when published: what the operations queries filter on (see docs/ledger.md). */
  published_at?: Timestamp;
  completed_at?: Timestamp;
  overall_status?: ProcessingCompleted['overall_status'];
  processor_ids?: string[];
  has_timeout?: boolean;
  /** What `outcomeTags` finds of the FAILED and TIMEOUT entries (`P/failed/CODE`, …). */
  outcome_tags?: string[];
  completed_count?: number;
  failed_count?: number;
  timeout_count?: number;
  /** The event's documents and organization (what a re-run sends again). */
  documents?: string[];
  organization_id?: string;
  /** Set on an operator's re-run: the earlier execution's key, the processors, who and why. */
  rerun?: RerunOf;
  /** Set with `state: published`: the id Pub/Sub gave the published message. */
  published_message_id?: string | null;
}

export interface StoredOutcome {
  status: RunOutcome['status'];
  /** Runs across deliveries. */
  attempts: number;
  execution_id: string;
  /** Seconds, as published. */
  execution_time: number;
  /**
   * The published entry as JSON text (exact: Firestore has no arrays of arrays, and reserves
   * some field names), or `null` when it is stored in `parts` documents.
   */
  entry: string | null;
  /** How many `parts` documents hold the entry (0 when inline). */
  parts: number;
  /** Every execution id it ran under in this execution, oldest first (absent: `[execution_id]`). */
  execution_ids?: string[];
  /** Seconds from the event's receipt to the run's start, when measured. */
  queue_wait?: number | null;
  /** Taken from an earlier delivery or execution as it was. */
  reused?: boolean;
}

/** One slice of an entry too large for the execution document. */
export interface StoredPart {
  data: Buffer;
  expireAt: Timestamp;
}

/** The execution document stays well under Firestore's 1 MiB: inline entries share this much. */
export const INLINE_BUDGET_BYTES = 512 * 1024;
/** One part: under the 1 MiB document limit with room for its name and fields. */
export const PART_BYTES = 900 * 1024;

export const partId = (processorId: string, executionId: string, index: number) =>
  `${processorId}-${executionId}-${index}`;

/** Splits an entry's JSON into parts (for entries that do not fit inline). */
export function split(json: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < json.length; at += PART_BYTES) parts.push(json.subarray(at, at + PART_BYTES));
  return parts;
}

const ENTRY_SCHEMAS = {
  completed: CompletedProcessorSchema,
  failed: FailedProcessorSchema,
  timeout: TimeoutProcessorSchema,
} as const;

/**
 * A stored outcome back as the entry that was published; `undefined` when it does not parse
 * (written by an incompatible version): its processor then simply runs again.
 */
export function decodeOutcome(stored: StoredOutcome, json: string): RecordedOutcome | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  // A record written before entries carried `attempts` has it beside the entry.
  const parsed = ENTRY_SCHEMAS[stored.status].safeParse({ attempts: stored.attempts, ...(value as object) });
  if (!parsed.success) return undefined;
  return { status: stored.status, ...parsed.data } as RecordedOutcome;
}

/** The fields the operations queries filter on, from the published event. */
export function summaryFields(result: ProcessingCompleted) {
  return {
    overall_status: result.overall_status,
    processor_ids: [
      ...result.completed_processors,
      ...result.failed_processors,
      ...result.timeout_processors,
    ].map((e) => e.processor_id),
    has_timeout: result.timeout_processors.length > 0,
    outcome_tags: outcomeTags([
      ...result.failed_processors.map((e) => ({
        processorId: e.processor_id,
        status: 'failed' as const,
        errorCode: failureCode(e),
      })),
      ...result.timeout_processors.map((e) => ({
        processorId: e.processor_id,
        status: 'timeout' as const,
        errorCode: null,
      })),
    ]),
    completed_count: result.summary.completed_count,
    failed_count: result.summary.failed_count,
    timeout_count: result.summary.timeout_count,
  };
}

/** A stored execution as the history tells it; `outcomes` are the entries read back whole. */
export function toRecord(
  stored: StoredExecution,
  outcomes: ReadonlyMap<string, RecordedOutcome> = decodeInline(stored.processors),
): ExecutionRecord {
  const runs: RecordedRun[] = Object.entries(stored.processors).map(([id, o]) => {
    const outcome = outcomes.get(id);
    return {
      processorId: id,
      status: o.status,
      attempts: o.attempts,
      executionIds: o.execution_ids ?? [o.execution_id],
      executionTime: o.execution_time,
      queueWait: o.queue_wait ?? null,
      reused: o.reused ?? false,
      ...(outcome ? entryFacts(outcome) : { errorMessage: null, errorCode: null, timeoutPhase: null }),
      outcome,
    };
  });
  return {
    key: stored.key,
    underwritingId: stored.underwriting_id,
    sourceMessageId: stored.source_message_id,
    receivedAt: stored.created_at.toDate().toISOString(),
    finishedAt:
      stored.state === 'published' ? (stored.published_at ?? stored.updated_at).toDate().toISOString() : null,
    deliveries: stored.deliveries,
    overallStatus: stored.state === 'published' ? (stored.overall_status ?? null) : null,
    publishedMessageId: stored.published_message_id ?? null,
    rerun: stored.rerun ?? null,
    documents: stored.documents ?? [],
    organizationId: stored.organization_id,
    runs,
  };
}

/** The outcomes stored inline (every one but large results). */
export function decodeInline(stored: Record<string, StoredOutcome>): Map<string, RecordedOutcome> {
  const outcomes = new Map<string, RecordedOutcome>();
  for (const [id, outcome] of Object.entries(stored)) {
    if (outcome.entry === null) continue;
    const decoded = decodeOutcome(outcome, outcome.entry);
    if (decoded) outcomes.set(id, decoded);
  }
  return outcomes;
}
