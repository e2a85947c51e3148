import { OrchestratorError } from '../errors.js';
import type { ProcessingCompleted } from '../events/processing-completed.js';
import type { RunOutcome } from '../processors/run.js';
import {
  decodeCursor,
  encodeCursor,
  entryFacts,
  matches,
  type Cursor,
  type ExecutionFilter,
  type ExecutionRecord,
  type LedgerHistory,
  type OutcomeFacts,
} from './history.js';
import { createMemoryDeadLetters } from './dead-letters.js';
import {
  LEASE_MS,
  type Begin,
  type Claim,
  type Execution,
  type Ledger,
  type RecordedOutcome,
} from './ledger.js';
import { planQuery } from './query-plan.js';

/** Bounds of the memory ledger: it forgets the oldest executions past either. */
export const MEMORY_LIMITS: MemoryLimits = {
  /** Executions kept. */
  executions: 10_000,
  /** Their recorded entries, as JSON (factors can be large: a result may reach 10 MB). */
  bytes: 64 * 1024 * 1024,
};

export interface MemoryLimits {
  executions: number;
  bytes: number;
}

export interface MemoryLedger extends Ledger {
  /** What it holds now. */
  size(): { executions: number; bytes: number };
}

interface Entry {
  state: 'running' | 'published';
  /** The delivery holding the key while `running`; `undefined` once released. */
  holder: object | undefined;
  outcomes: Map<string, Kept>;
  bytes: number;
  publishedAt?: string;
  /** What the history tells of it. */
  about: Omit<ExecutionRecord, 'runs' | 'finishedAt' | 'overallStatus' | 'publishedMessageId'>;
  completedAtMs?: number;
  /** Creation order, for executions received within one millisecond. */
  seq: number;
  overallStatus?: ExecutionRecord['overallStatus'];
  publishedMessageId?: string | null;
}

interface Kept {
  outcome: RecordedOutcome;
  facts: OutcomeFacts;
  executionIds: string[];
}

/**
 * `LEDGER=memory`: the ledger's semantics within one instance, for its lifetime: the same message
 * through two subscriptions, or redelivered after a failed publish, runs each processor once.
 * Bounded: it keeps the most recent executions (`MEMORY_LIMITS`), published ones with their
 * outcomes, for the operations views, and as many poison messages dead-lettered. Needs no set-up; shares nothing with other instances (use
 * `firestore` for that).
 */
export function createMemoryLedger(limits: MemoryLimits = MEMORY_LIMITS): MemoryLedger {
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  const entries = new Map<string, Entry>();
  let bytes = 0;
  let created = 0;
  const deadLetters = createMemoryDeadLetters(limits.executions, LEASE_MS);

  function touch(key: string, entry: Entry): void {
    entries.delete(key);
    entries.set(key, entry);
    evict();
  }

  function evict(): void {
    while (entries.size > limits.executions || (bytes > limits.bytes && entries.size > 1)) {
      const [oldestKey, oldest] = entries.entries().next().value as [string, Entry];
      entries.delete(oldestKey);
      bytes -= oldest.bytes;
    }
  }

  function begin(execution: Execution): Promise<Begin> {
    const { key } = execution;
    const found = entries.get(key);
    if (found?.state === 'published') {
      return Promise.resolve({ state: 'published', publishedAt: found.publishedAt ?? '' });
    }
    if (found?.holder) {
      return Promise.reject(
        new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} is in progress in another delivery`),
      );
    }
    const holder = {};
    const entry: Entry = found ?? {
      state: 'running',
      holder,
      outcomes: new Map(),
      bytes: 0,
      seq: (created += 1),
      about: {
        key,
        underwritingId: execution.underwritingId,
        sourceMessageId: execution.sourceMessageId,
        receivedAt: new Date().toISOString(),
        deliveries: 0,
        rerun: execution.rerun ?? null,
        documents: [...(execution.documents ?? [])],
        organizationId: execution.organizationId,
      },
    };
    entry.holder = holder;
    entry.about.deliveries += 1;
    touch(key, entry);
    const prior: ReadonlyMap<string, RecordedOutcome> = new Map(
      [...entry.outcomes].map(([id, kept]) => [id, kept.outcome]),
    );
    const holds = () => entry.holder === holder;

    const claim: Claim = {
      prior,
      record(outcome: RunOutcome, facts: OutcomeFacts = { reused: false, queueWait: null }) {
        if (!holds()) return;
        const id = outcome.processor_id;
        const previous = entry.outcomes.get(id);
        if (facts.reused && previous?.outcome.execution_id === outcome.execution_id) {
          previous.facts = { ...previous.facts, reused: true };
          return;
        }
        const ids = previous && !facts.reused ? previous.executionIds : [];
        const growth = sizeOf(outcome) - (previous ? sizeOf(previous.outcome) : 0);
        entry.outcomes.set(id, {
          outcome,
          facts,
          executionIds: ids.includes(outcome.execution_id) ? ids : [...ids, outcome.execution_id],
        });
        entry.bytes += growth;
        bytes += growth;
        evict();
      },
      settle(_result: ProcessingCompleted) {
        return holds()
          ? Promise.resolve()
          : Promise.reject(new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} was forgotten`));
      },
      published(result: ProcessingCompleted, messageId?: string) {
        if (!holds()) return Promise.resolve();
        entry.state = 'published';
        entry.holder = undefined;
        entry.publishedAt = result.completed_at;
        entry.completedAtMs = Date.parse(result.completed_at);
        entry.overallStatus = result.overall_status ?? null;
        entry.publishedMessageId = messageId ?? null;
        return Promise.resolve();
      },
      release() {
        if (holds()) entry.holder = undefined;
        return Promise.resolve();
      },
    };
    return Promise.resolve({ state: 'claimed', claim });
  }

  function toRecord(entry: Entry): ExecutionRecord {
    return {
      ...entry.about,
      finishedAt: entry.state === 'published' ? (entry.publishedAt ?? null) : null,
      overallStatus: entry.state === 'published' ? (entry.overallStatus ?? null) : null,
      publishedMessageId: entry.publishedMessageId ?? null,
      runs: [...entry.outcomes.values()].map(({ outcome, facts, executionIds }) => ({
        processorId: outcome.processor_id,
        status: outcome.status,
        attempts: outcome.attempts,
        executionIds,
        executionTime: outcome.execution_time,
        queueWait: facts.queueWait,
        reused: facts.reused,
        ...entryFacts(outcome),
        outcome,
      })),
    };
  }

  const newestFirst = () => [...entries.values()].reverse();

  const history: LedgerHistory = {
    underwriting(underwritingId: string, limit: number) {
      const found = [...entries.values()]
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
      const sorted = newestFirst()
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

  return {
    kind: 'memory',
    history,
    begin,
    beginDeadLetter: deadLetters.begin,
    warm: () => Promise.resolve(),
    notReady: () => undefined,
    operations: () => ({ reads: 0, writes: 0 }),
    size: () => ({ executions: entries.size, bytes }),
    close: () => {
      entries.clear();
      bytes = 0;
      return Promise.resolve();
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

// Factors dominate an entry's size; the JSON length is close enough to bound memory.
const sizeOf = (outcome: RunOutcome) => JSON.stringify(outcome).length;
