import { randomUUID } from 'node:crypto';

import { Timestamp, type CollectionReference, type WriteResult } from '@google-cloud/firestore';

import { OrchestratorError, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { documentId } from './ledger.js';

/**
 * A poison message is dead-lettered once, however often and by whatever path it is delivered
 * (pull and push, a redelivery, another instance), as an event is published once: the ledger
 * records its forwarding by message id.
 *
 * 1. `begin` claims the message's forwarding for this delivery, with a lease; or says it was
 *    `forwarded` already (ack without forwarding again). A forwarding held by another live
 *    delivery throws IN_PROGRESS_ELSEWHERE (retryable: nack; the redelivery finds it forwarded).
 * 2. `forwarded` once the dead-letter topic has it; `release` when it could not be forwarded, so
 *    that the redelivery need not wait for the lease to run out.
 */
export type DeadLetterBegin = { state: 'forwarded' } | { state: 'claimed'; claim: DeadLetterClaim };

export interface DeadLetterClaim {
  /** Marks the message forwarded: its later deliveries are acked without forwarding again. */
  forwarded(): Promise<void>;
  /** Gives the claim up at once (the message will be retried); never rejects. */
  release(): Promise<void>;
}

/** What a poison message's record says of it: who holds its forwarding, until when, or that it is done. */
export interface DeadLetterState {
  state: 'forwarding' | 'forwarded';
  leaseUntilMs: number;
}

/** What this delivery does, given the message's record (none yet: `undefined`). */
export function deadLetterDecision(
  found: DeadLetterState | undefined,
  nowMs: number,
): 'claim' | 'forwarded' | 'elsewhere' | 'take-over' {
  if (!found) return 'claim';
  if (found.state === 'forwarded') return 'forwarded';
  return found.leaseUntilMs > nowMs ? 'elsewhere' : 'take-over';
}

const elsewhere = (messageId: string) =>
  new OrchestratorError(
    'IN_PROGRESS_ELSEWHERE',
    `poison message ${messageId} is being dead-lettered by another delivery`,
  );

/** Within one instance (`LEDGER=memory`): the most recent `limit` messages are remembered. */
export function createMemoryDeadLetters(limit: number, leaseMs: number) {
  // Insertion order: the oldest first, forgotten first.
  const records = new Map<string, DeadLetterState & { holder: object }>();
  return {
    begin: (messageId: string): Promise<DeadLetterBegin> => {
      const found = records.get(messageId);
      const decision = deadLetterDecision(found, Date.now());
      if (decision === 'forwarded') return Promise.resolve({ state: 'forwarded' });
      if (decision === 'elsewhere') return Promise.reject(elsewhere(messageId));
      const record = { state: 'forwarding' as const, leaseUntilMs: Date.now() + leaseMs, holder: {} };
      records.delete(messageId);
      records.set(messageId, record);
      for (const oldest of records.keys()) {
        if (records.size <= limit) break;
        records.delete(oldest);
      }
      const holds = () => records.get(messageId) === record;
      return Promise.resolve({
        state: 'claimed',
        claim: {
          forwarded() {
            if (holds()) records.set(messageId, { ...record, state: 'forwarded' });
            return Promise.resolve();
          },
          release() {
            if (holds()) records.delete(messageId);
            return Promise.resolve();
          },
        },
      });
    },
  };
}

/** A poison message's record in Firestore, beside the executions (see docs/ledger.md). */
interface StoredDeadLetter {
  kind: 'dead-letter';
  source_message_id: string;
  state: DeadLetterState['state'];
  owner: string;
  lease_until: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  expireAt: Timestamp;
}

export interface FirestoreDeadLetterDeps {
  collection: CollectionReference;
  /** The ledger's bound on one call (see `createFirestoreLedger`): its failures are LEDGER_UNAVAILABLE. */
  bounded: <T>(what: string, call: () => Promise<T>, cost: { reads?: number; writes?: number }) => Promise<T>;
  leaseMs: number;
  /** When the TTL policy deletes a record created at `nowMs`. */
  expiry(nowMs: number): Timestamp;
  log: Logger;
}

// gRPC status codes told apart.
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;
const NOT_FOUND = 5;
const codeOf = (err: unknown) => (err as { code?: unknown } | null)?.code;

/**
 * `LEDGER=firestore`: one small document per poison message, `{LEDGER_COLLECTION}/dead-letter-{sha256(id)}`
 * (no execution's id starts so), claimed as executions are: `create()`, or once the holder's lease
 * ran out an update preconditioned on the last update time; no transactions.
 */
export function createFirestoreDeadLetters(deps: FirestoreDeadLetterDeps) {
  const { collection, bounded, leaseMs } = deps;

  async function begin(messageId: string): Promise<DeadLetterBegin> {
    const ref = collection.doc(`dead-letter-${documentId(messageId)}`);
    const now = Date.now();
    const fresh: StoredDeadLetter = {
      kind: 'dead-letter',
      source_message_id: messageId,
      state: 'forwarding',
      owner: randomUUID(),
      lease_until: Timestamp.fromMillis(now + leaseMs),
      created_at: Timestamp.fromMillis(now),
      updated_at: Timestamp.fromMillis(now),
      expireAt: deps.expiry(now),
    };
    let claimed: WriteResult;
    try {
      claimed = await bounded('claim dead letter', () => ref.create(fresh), { writes: 1 });
    } catch (err) {
      if (codeOf(err) !== ALREADY_EXISTS) throw err;
      const snapshot = await bounded('read dead letter', () => ref.get(), { reads: 1 });
      const stored = snapshot.data() as StoredDeadLetter | undefined;
      const found = stored && { state: stored.state, leaseUntilMs: stored.lease_until.toMillis() };
      const decision = deadLetterDecision(found, Date.now());
      if (decision === 'forwarded') return { state: 'forwarded' };
      if (decision !== 'take-over' || !snapshot.updateTime) throw elsewhere(messageId);
      const lastUpdateTime = snapshot.updateTime;
      const takenAt = Date.now();
      claimed = await bounded(
        'take over dead letter',
        () =>
          ref.update(
            {
              owner: fresh.owner,
              lease_until: Timestamp.fromMillis(takenAt + leaseMs),
              updated_at: Timestamp.fromMillis(takenAt),
            },
            { lastUpdateTime },
          ),
        { writes: 1 },
      ).catch((err: unknown) => {
        const code = codeOf(err);
        throw code === FAILED_PRECONDITION || code === NOT_FOUND ? elsewhere(messageId) : err;
      });
    }
    // Preconditioned on the claim: a holder that lost its lease writes nothing.
    const settle = (fields: Partial<StoredDeadLetter>) =>
      bounded(
        'dead letter',
        () =>
          ref.update(
            { ...fields, updated_at: Timestamp.fromMillis(Date.now()) },
            { lastUpdateTime: claimed.writeTime },
          ),
        { writes: 1 },
      );
    return {
      state: 'claimed',
      claim: {
        async forwarded() {
          await settle({ state: 'forwarded' });
        },
        async release() {
          await settle({ lease_until: Timestamp.fromMillis(Date.now()) }).catch((err: unknown) =>
            deps.log.warn(
              { source_message_id: messageId, err: messageOf(err) },
              'could not release the dead-letter claim',
            ),
          );
        },
      },
    };
  }

  return { begin };
}
