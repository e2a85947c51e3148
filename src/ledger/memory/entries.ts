// What the memory ledger holds: its executions, the most recent first to be kept, within bounds.
import type { ExecutionRecord, OutcomeFacts } from '../history.js';
import type { RecordedOutcome } from '../ledger.js';

export interface MemoryLimits {
  /** Executions kept. */
  executions: number;
  /** Their recorded entries, as JSON (factors can be large: a result may reach 10 MB). */
  bytes: number;
}

/** One execution held in memory. */
export interface Entry {
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

/** One processor's recorded outcome. */
export interface Kept {
  outcome: RecordedOutcome;
  facts: OutcomeFacts;
  executionIds: string[];
}

/** The executions, oldest first: a Map iterates in insertion order, and re-inserting on use keeps it so. */
export class Entries {
  readonly #byKey = new Map<string, Entry>();
  #bytes = 0;
  #created = 0;

  constructor(readonly limits: MemoryLimits) {}

  get(key: string): Entry | undefined {
    return this.#byKey.get(key);
  }

  /** The next creation number. */
  nextSeq(): number {
    return (this.#created += 1);
  }

  /** Marks `entry` the most recently used, and forgets the oldest past the bounds. */
  touch(key: string, entry: Entry): void {
    this.#byKey.delete(key);
    this.#byKey.set(key, entry);
    this.evict();
  }

  /** Counts `bytes` more (or fewer) recorded in `entry`, and forgets the oldest past the bounds. */
  grow(entry: Entry, bytes: number): void {
    entry.bytes += bytes;
    this.#bytes += bytes;
    this.evict();
  }

  evict(): void {
    const { executions, bytes } = this.limits;
    for (const [key, oldest] of this.#byKey) {
      if (this.#byKey.size <= executions && (this.#bytes <= bytes || this.#byKey.size <= 1)) return;
      this.#byKey.delete(key);
      this.#bytes -= oldest.bytes;
    }
  }

  values(): Entry[] {
    return [...this.#byKey.values()];
  }

  size(): { executions: number; bytes: number } {
    return { executions: this.#byKey.size, bytes: this.#bytes };
  }

  clear(): void {
    this.#byKey.clear();
    this.#bytes = 0;
  }
}
