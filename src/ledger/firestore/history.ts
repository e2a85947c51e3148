// The Firestore ledger's history: what the operations views and a re-run read back, and the
// fields the published execution carries for the operations queries to filter on.
import { FieldPath, Timestamp, type Query } from '@google-cloud/firestore';

import type { ProcessingCompleted } from '../../events/processing-completed.js';
import { failureCode } from '../../processors/run.js';
import {
  HISTORY_LIMITS,
  decodeCursor,
  encodeCursor,
  matches,
  outcomeTags,
  recordedRun,
  type Cursor,
  type ExecutionFilter,
  type ExecutionRecord,
  type LedgerHistory,
} from '../history.js';
import { documentId, type RecordedOutcome } from '../ledger.js';
import { planQuery, type QueryPlan } from '../query-plan.js';
import { executionIdsOf, type StoredExecution } from './converter.js';
import { decodeInline, readOutcomes } from './parts.js';
import type { LedgerStore } from './store.js';

/** Documents read at a time when part of a filter is checked here rather than by the query. */
const RESIDUAL_CHUNK = 100;

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
  const published = stored.state === 'published';
  return {
    key: stored.key,
    underwritingId: stored.underwriting_id,
    sourceMessageId: stored.source_message_id,
    receivedAt: stored.created_at.toDate().toISOString(),
    finishedAt: published ? (stored.published_at ?? stored.updated_at).toDate().toISOString() : null,
    deliveries: stored.deliveries,
    overallStatus: published ? (stored.overall_status ?? null) : null,
    publishedMessageId: stored.published_message_id ?? null,
    rerun: stored.rerun ?? null,
    documents: stored.documents ?? [],
    organizationId: stored.organization_id,
    runs: Object.entries(stored.processors).map(([id, o]) =>
      recordedRun(
        {
          processorId: id,
          status: o.status,
          attempts: o.attempts,
          executionIds: executionIdsOf(o),
          executionTime: o.execution_time,
          queueWait: o.queue_wait ?? null,
          reused: o.reused ?? false,
        },
        outcomes.get(id),
      ),
    ),
  };
}

export function firestoreHistory(store: LedgerStore): LedgerHistory {
  const { executions: collection, bounded } = store;
  return {
    async underwriting(underwritingId: string, limit: number): Promise<ExecutionRecord[]> {
      const query = collection.where('underwriting_id', '==', underwritingId).orderBy('created_at', 'desc');
      const snapshot = await bounded('read executions', () => query.limit(limit).get(), { reads: 1 });
      store.countReads(Math.max(0, snapshot.size - 1));
      return snapshot.docs.map((d) => toRecord(d.data()));
    },
    async execution(key: string): Promise<ExecutionRecord | undefined> {
      const ref = collection.doc(documentId(key));
      const snapshot = await bounded('read', () => ref.get(), { reads: 1 });
      const stored = snapshot.data();
      if (!stored) return undefined;
      const { prior } = await readOutcomes(store, ref, stored.processors);
      return toRecord(stored, prior);
    },
    async executions(filter: ExecutionFilter) {
      const plan = planQuery(filter);
      let cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      // With a filter the query cannot apply, documents are read in chunks and checked here,
      // at most HISTORY_LIMITS.scan of them per page.
      const chunk = plan.residual ? RESIDUAL_CHUNK : filter.limit + 1;
      const records: ExecutionRecord[] = [];
      let scanned = 0;
      for (;;) {
        const query = plannedQuery(collection, plan, filter, cursor).limit(chunk);
        const snapshot = await bounded('read executions', () => query.get(), { reads: 1 });
        store.countReads(Math.max(0, snapshot.size - 1));
        for (const doc of snapshot.docs) {
          if (records.length === filter.limit) return { records, next: cursor ? encodeCursor(cursor) : null };
          const stored = doc.data();
          const at = stored.completed_at?.toMillis() ?? 0;
          scanned += 1;
          cursor = {
            at,
            id: doc.id,
            ...(plan.order === 'underwriting_id' && { underwriting: stored.underwriting_id }),
          };
          const record = toRecord(stored);
          if (matches(record, filter, at)) records.push(record);
        }
        if (snapshot.size < chunk) return { records, next: null };
        if (scanned >= HISTORY_LIMITS.scan) return { records, next: cursor ? encodeCursor(cursor) : null };
      }
    },
  };
}

/** The plan's query (its index is in deploy/setup.sh; tests/unit/query-plan.test.ts), from `cursor` on. */
export function plannedQuery<T>(
  collection: Query<T>,
  plan: QueryPlan,
  filter: ExecutionFilter,
  cursor: Cursor | undefined,
): Query<T> {
  let query = collection;
  if (plan.equal) query = query.where(plan.equal.field, '==', plan.equal.value);
  if (plan.contains) query = query.where(plan.contains.field, 'array-contains', plan.contains.value);
  const at = (iso: string) => Timestamp.fromDate(new Date(iso));
  if (plan.order === 'underwriting_id') {
    const prefix = filter.underwritingPrefix ?? '';
    query = query
      .where('underwriting_id', '>=', prefix)
      .where('underwriting_id', '<', `${prefix}\uf8ff`)
      .orderBy('underwriting_id', 'asc')
      .orderBy('completed_at', 'desc')
      .orderBy(FieldPath.documentId(), 'desc');
    return cursor
      ? query.startAfter(cursor.underwriting ?? '', Timestamp.fromMillis(cursor.at), cursor.id)
      : query;
  }
  if (filter.since !== undefined) query = query.where('completed_at', '>=', at(filter.since));
  if (filter.until !== undefined) query = query.where('completed_at', '<=', at(filter.until));
  query = query.orderBy('completed_at', 'desc').orderBy(FieldPath.documentId(), 'desc');
  return cursor ? query.startAfter(Timestamp.fromMillis(cursor.at), cursor.id) : query;
}
