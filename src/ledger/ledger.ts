import { createHash } from 'node:crypto';
import type { RunOutcome } from '../processors/run.js';

import type { ProcessingCompleted } from '../events/processing-completed.js';
import type { RerunOf, UnderwritingCreated } from '../events/underwriting-created.js';
import type { DeadLetterBegin } from './dead-letters.js';
import type { LedgerHistory, OutcomeFacts } from './history.js';

/**
 * The execution ledger's protocol (docs/ledger.md tells the whole story):
 *
 * 1. `begin` claims the event's key for this delivery, with a lease, or says it needs no work:
 *    `published` (ack without publishing again). A key held by another live delivery throws
 *    IN_PROGRESS_ELSEWHERE; a ledger that cannot answer throws LEDGER_UNAVAILABLE. Both are
 *    retryable: the handler nacks.
 * 2. The claim's `prior` are the outcomes earlier deliveries recorded. COMPLETED ones are reused as
 *    they are; the others run again.
 * 3. `record` takes each outcome as it settles; the ledger writes them with its lease renewals,
 *    so their cost follows the event's duration, not its number of processors.
 * 4. `settle` makes every outcome durable before the publish; `published` marks the key done
 *    after it. A failure in between releases the claim (`release`), so a redelivery need not wait
 *    for the lease to run out.
 */
export interface Ledger {
  readonly kind: LedgerKind;
  /** Claims `execution.key` for this delivery; see the protocol above. */
  begin(execution: Execution): Promise<Begin>;
  /** Claims the forwarding of a poison message to the dead-letter topic; see `dead-letters.ts`. */
  beginDeadLetter(sourceMessageId: string): Promise<DeadLetterBegin>;
  /** Opens the way to the store and checks it (readiness says how it went); never rejects. */
  warm(): Promise<void>;
  /** Why the ledger cannot be used now (readiness), or `undefined`. */
  notReady(): string | undefined;
  /** Operations sent to the store so far (the bench counts Firestore reads and writes). */
  operations(): { reads: number; writes: number };
  /** What it remembers, for the operations views and re-runs; `undefined` for `none`. */
  readonly history: LedgerHistory | undefined;
  close(): Promise<void>;
}

export const LEDGER_KINDS = ['firestore', 'memory', 'none'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** What identifies one execution: the key, and what the records say about it. */
export interface Execution {
  /** `data.event_id` when the event has one, else the Pub/Sub message id (see `executionKey`). */
  key: string;
  underwritingId: string;
  sourceMessageId: string;
  /** The event's document ids and organization: what a re-run of it sends again. */
  documents?: readonly string[];
  organizationId?: string | undefined;
  /** Set when the event is an operator's re-run: of what, which processors, who asked and why. */
  rerun?: RerunOf | undefined;
}

export type Begin = { state: 'published'; publishedAt: string } | { state: 'claimed'; claim: Claim };

/** A processor's outcome as recorded: its published entry, `attempts` counted across deliveries. */
export type RecordedOutcome = RunOutcome;

/** This delivery's hold on an execution key. */
export interface Claim {
  /** Outcomes recorded by earlier deliveries, by processor id. */
  readonly prior: ReadonlyMap<string, RecordedOutcome>;
  /**
   * Records a processor's outcome as its run settles (or as it is reused: `facts.reused`); never
   * throws, written with the next checkpoint.
   */
  record(outcome: RunOutcome, facts?: OutcomeFacts): void;
  /**
   * Writes whatever is not yet written, so that a failed publish never runs a processor again.
   * Rejects with LEDGER_UNAVAILABLE, or IN_PROGRESS_ELSEWHERE when the lease was lost meanwhile
   * (then nothing may be published).
   */
  settle(result: ProcessingCompleted): Promise<void>;
  /**
   * Marks the key published (with the published message's id): its redeliveries are acked
   * without publishing again.
   */
  published(result: ProcessingCompleted, messageId?: string): Promise<void>;
  /** Gives the claim up at once (the event will be retried); never rejects. */
  release(): Promise<void>;
}

/** An execution's key: the event's own `event_id` when present, else the Pub/Sub message id. */
export function executionKey(event: UnderwritingCreated, messageId: string): string {
  return event.data.event_id ?? messageId;
}

/**
 * A store-friendly id for a key: its SHA-256 in hex. Pub/Sub message ids grow monotonically and
 * Firestore hot-spots on monotonically increasing document ids; a hash spreads them.
 */
export function documentId(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * How long a claim holds its key without being renewed. A holder that crashed blocks its key at
 * most this long, whatever its processors' deadlines; a live holder renews it while it works.
 */
export const LEASE_MS = 20_000;
/**
 * How often a live holder may write: the outcomes settled since its last write, and its lease
 * once two checkpoints or less of it are left (every 10 s). An event shorter than this costs no
 * write between its claim and its settle.
 */
export const CHECKPOINT_MS = 5_000;
