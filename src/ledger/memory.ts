import { createMemoryDeadLetters } from './dead-letters.js';
import { LEASE_MS, type Ledger } from './ledger.js';
import { memoryBegin } from './memory/claim.js';
import { Entries, type MemoryLimits } from './memory/entries.js';
import { memoryHistory } from './memory/history.js';

export type { MemoryLimits } from './memory/entries.js';

/** Bounds of the memory ledger: it forgets the oldest executions past either. */
export const MEMORY_LIMITS: MemoryLimits = {
  executions: 10_000,
  bytes: 64 * 1024 * 1024,
};

export interface MemoryLedger extends Ledger {
  /** What it holds now. */
  size(): { executions: number; bytes: number };
}

/**
 * `LEDGER=memory`: the ledger's semantics within one instance, for its lifetime: the same message
 * through two subscriptions, or redelivered after a failed publish, runs each processor once.
 * Bounded: it keeps the most recent executions (`MEMORY_LIMITS`), published ones with their
 * outcomes, for the operations views, and as many poison messages dead-lettered. Needs no set-up;
 * shares nothing with other instances (use `firestore` for that). Its jobs, one module each under
 * `memory/`: the bounded executions (`entries.ts`), claims (`claim.ts`), the history (`history.ts`).
 */
export function createMemoryLedger(limits: MemoryLimits = MEMORY_LIMITS): MemoryLedger {
  const entries = new Entries(limits);
  const deadLetters = createMemoryDeadLetters(limits.executions, LEASE_MS);
  return {
    kind: 'memory',
    history: memoryHistory(entries),
    begin: memoryBegin(entries),
    beginDeadLetter: deadLetters.begin,
    warm: () => Promise.resolve(),
    notReady: () => undefined,
    operations: () => ({ reads: 0, writes: 0 }),
    size: () => entries.size(),
    close: () => {
      entries.clear();
      return Promise.resolve();
    },
  };
}
