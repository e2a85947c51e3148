import type { Firestore } from '@google-cloud/firestore';

import type { Logger } from '../logging.js';
import { createFirestoreDeadLetters } from './dead-letters-firestore.js';
import { CHECKPOINT_MS, LEASE_MS, type Ledger } from './ledger.js';
import { firestoreBegin } from './firestore/claim.js';
import { firestoreHistory } from './firestore/history.js';
import { openLedgerStore } from './firestore/store.js';

export { FIRESTORE_DEFAULTS } from './firestore/store.js';
export { plannedQuery } from './firestore/history.js';

export interface FirestoreLedgerOptions {
  projectId: string;
  /** `(default)` or a named database. */
  databaseId: string;
  collection: string;
  ttlDays: number;
  /** `host:port` of the Firestore emulator, when talking to it. */
  emulatorHost: string | undefined;
  log: Logger;
  /** The longest one ledger operation may take before the event is retried (LEDGER_UNAVAILABLE). */
  timeoutMs?: number;
  /** Lease and checkpoint periods (default `LEASE_MS`, `CHECKPOINT_MS`); tests shorten them. */
  leaseMs?: number;
  checkpointMs?: number;
  /** The service's Firestore client, shared with the operations state (terminated by `close`); else one of its own. */
  db?: Firestore;
}

/**
 * `LEDGER=firestore`: the ledger shared by every instance, one document per execution. Its jobs,
 * one module each under `firestore/`: the way to the store and its availability (`store.ts`),
 * claims and their checkpoints (`claim.ts`), where outcomes live (`parts.ts`), the history
 * (`history.ts`), and reading stored documents (`converter.ts`); poison messages' records are
 * `dead-letters-firestore.ts`.
 */
export function createFirestoreLedger(options: FirestoreLedgerOptions): Ledger {
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const store = openLedgerStore(options);
  const deadLetters = createFirestoreDeadLetters({
    collection: store.collection,
    bounded: store.bounded,
    leaseMs,
    expiry: store.expiry,
    log: options.log,
  });
  return {
    kind: 'firestore',
    history: firestoreHistory(store),
    begin: firestoreBegin(store, {
      log: options.log,
      leaseMs,
      checkpointMs: options.checkpointMs ?? CHECKPOINT_MS,
    }),
    beginDeadLetter: deadLetters.begin,
    warm: store.warm,
    notReady: store.notReady,
    operations: store.operations,
    close: store.close,
  };
}
