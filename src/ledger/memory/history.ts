// The memory ledger's history: the same answers as the store's, in the store's order.
import {
  decodeCursor,
  encodeCursor,
  matches,
  recordedRun,
  type Cursor,
  type ExecutionFilter,
  type ExecutionRecord,
  type LedgerHistory,
} from '../history.js';
import { planQuery } from '../query-plan.js';
import type { Entries, Entry } from './entries.js';

export function toRecord(entry: Entry): ExecutionRecord {
  const published = entry.state === 'published';
  return {
    ...entry.about,
    finishedAt: published ? (entry.publishedAt ?? null) : null,
    overallStatus: published ? (entry.overallStatus ?? null) : null,
    publishedMessageId: entry.publishedMessageId ?? null,
    runs: [...entry.outcomes.values()].map(({ outcome, facts, executionIds }) =>
      recordedRun(
        {
          processorId: outcome.processor_id,
          status: outcome.status,
          attempts: outcome.attempts,
          executionIds,
          executionTime: outcome.execution_time,
          queueWait: facts.queueWait,
          reused: facts.reused,
        },
        outcome,
      ),
    ),
  };
}

export function memoryHistory(entries: Entries): LedgerHistory {
  return {
    underwriting(underwritingId: string, limit: number) {
      const found = entries
        .values()
        .filter((e) => e.about.underwritingId === underwritingId)
        .sort((a, b) => b.about.receivedAt.localeCompare(a.about.receivedAt) || b.seq - a.seq)
        .slice(0, limit);
      return Promise.resolve(found.map(toRecord));
    },
    execution(key: string) {
      const entry = entries.get(key);
      return Promise.resolve(entry && toRecord(entry));
    },
    // A bad cursor rejects, as the store's would.
    async executions(filter: ExecutionFilter) {
      await Promise.resolve();
      const cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      const byUnderwriting = planQuery(filter).order === 'underwriting_id';
      // The store's order: newest first, or by underwriting id and then newest first.
      const position = (e: Entry): Cursor => ({
        at: e.completedAtMs ?? 0,
        id: e.about.key,
        ...(byUnderwriting && { underwriting: e.about.underwritingId }),
      });
      const sorted = entries
        .values()
        .reverse()
        .filter((e) => e.state === 'published' && e.completedAtMs !== undefined)
        .sort((a, b) => comparePositions(position(a), position(b)));
      const page: { record: ExecutionRecord; at: Cursor }[] = [];
      for (const entry of sorted) {
        const at = position(entry);
        if (cursor && comparePositions(at, cursor) <= 0) continue;
        const record = toRecord(entry);
        if (!matches(record, filter, at.at)) continue;
        page.push({ record, at });
        if (page.length > filter.limit) break;
      }
      const kept = page.slice(0, filter.limit);
      const last = kept.at(-1);
      const next = page.length > filter.limit && last ? encodeCursor(last.at) : null;
      return { records: kept.map((p) => p.record), next };
    },
  };
}

/** Sort order of positions: by underwriting id when set, then the most recently completed, then id (descending). */
function comparePositions(a: Cursor, b: Cursor): number {
  const [x, y] = [a.underwriting ?? '', b.underwriting ?? ''];
  // As Firestore orders strings (by code unit here; the same for the ids in use).
  const byUnderwriting = x < y ? -1 : x > y ? 1 : 0;
  return byUnderwriting || b.at - a.at || b.id.localeCompare(a.id);
}
