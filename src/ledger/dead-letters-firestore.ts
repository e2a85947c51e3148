import { randomUUID } from 'node:crypto';

import { Timestamp, type CollectionReference, type WriteResult } from '@google-cloud/firestore';

import { messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { deadLetterDecision, elsewhere, type DeadLetterBegin } from './dead-letters.js';
import { GRPC, codeOf } from './firestore-client.js';
import { deadLetterConverter, type StoredDeadLetter } from './firestore/converter.js';
import { documentId } from './ledger.js';

// Apart from dead-letters.ts: the memory ledger imports that one, and must not load the Firestore client.

export interface FirestoreDeadLetterDeps {
  collection: CollectionReference;
  /** The ledger's bound on one call (see `createFirestoreLedger`): its failures are LEDGER_UNAVAILABLE. */
  bounded: <T>(what: string, call: () => Promise<T>, cost: { reads?: number; writes?: number }) => Promise<T>;
  leaseMs: number;
  /** When the TTL policy deletes a record created at `nowMs`. */
  expiry(nowMs: number): Timestamp;
  log: Logger;
}

const { ALREADY_EXISTS, FAILED_PRECONDITION, NOT_FOUND } = GRPC;

/**
 * `LEDGER=firestore`: one small document per poison message, `{LEDGER_COLLECTION}/dead-letter-{sha256(id)}`
 * (no execution's id starts so), claimed as executions are: `create()`, or once the holder's lease
 * ran out an update preconditioned on the last update time; no transactions.
 */
export function createFirestoreDeadLetters(deps: FirestoreDeadLetterDeps) {
  const { collection, bounded, leaseMs } = deps;

  async function begin(messageId: string): Promise<DeadLetterBegin> {
    const ref = collection.doc(`dead-letter-${documentId(messageId)}`).withConverter(deadLetterConverter);
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
      const stored = snapshot.data();
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
