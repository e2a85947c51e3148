import { OrchestratorError } from '../errors.js';
import type { ProcessingCompleted } from '../events/processing-completed.js';
import type { RunOutcome } from '../processors/run.js';
import { type Begin, type Claim, type Execution, type Ledger, type RecordedOutcome } from './ledger.js';

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
  outcomes: Map<string, RecordedOutcome>;
  bytes: number;
  publishedAt?: string;
}

/**
 * `LEDGER=memory`: the ledger's semantics within one instance, for its lifetime: the same message
 * through two subscriptions, or redelivered after a failed publish, runs each processor once.
 * Bounded: it keeps the most recent executions (`MEMORY_LIMITS`). Needs no set-up; shares nothing
 * with other instances (use `firestore` for that).
 */
export function createMemoryLedger(limits: MemoryLimits = MEMORY_LIMITS): MemoryLedger {
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  const entries = new Map<string, Entry>();
  let bytes = 0;

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
    const entry: Entry = found ?? { state: 'running', holder, outcomes: new Map(), bytes: 0 };
    entry.holder = holder;
    touch(key, entry);
    const prior: ReadonlyMap<string, RecordedOutcome> = new Map(entry.outcomes);
    const holds = () => entry.holder === holder;

    const claim: Claim = {
      prior,
      record(outcome: RunOutcome) {
        if (!holds()) return;
        const id = outcome.processor_id;
        const previous = entry.outcomes.get(id);
        const growth = sizeOf(outcome) - (previous ? sizeOf(previous) : 0);
        entry.outcomes.set(id, outcome);
        entry.bytes += growth;
        bytes += growth;
        evict();
      },
      settle(_result: ProcessingCompleted) {
        return holds()
          ? Promise.resolve()
          : Promise.reject(new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} was forgotten`));
      },
      published(result: ProcessingCompleted) {
        if (!holds()) return Promise.resolve();
        entry.state = 'published';
        entry.holder = undefined;
        entry.publishedAt = result.completed_at;
        // A published execution needs only its state: its outcomes will never be read again.
        bytes -= entry.bytes;
        entry.bytes = 0;
        entry.outcomes.clear();
        return Promise.resolve();
      },
      release() {
        if (holds()) entry.holder = undefined;
        return Promise.resolve();
      },
    };
    return Promise.resolve({ state: 'claimed', claim });
  }

  return {
    kind: 'memory',
    begin,
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

// Factors dominate an entry's size; the JSON length is close enough to bound memory.
const sizeOf = (outcome: RunOutcome) => JSON.stringify(outcome).length;
