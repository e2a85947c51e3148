import { Firestore } from '@google-cloud/firestore';

import { createFirestoreLedger, type FirestoreLedgerOptions } from '../../src/ledger/firestore.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { silentLog } from './fixtures.js';
import { TEST_PROJECT_ID, uniqueName } from './pubsub.js';

/** A collection name unique to this call, so tests sharing the emulator never meet. */
export function uniqueCollection(prefix = 'executions'): string {
  return uniqueName(prefix).replace(/-/g, '_');
}

/** The service's Firestore ledger on the emulator at `host`, in its own collection. */
export function emulatorLedger(
  host: string,
  options: Partial<FirestoreLedgerOptions> = {},
): Ledger & { collection: string } {
  const collection = options.collection ?? uniqueCollection();
  const ledger = createFirestoreLedger({
    projectId: TEST_PROJECT_ID,
    databaseId: '(default)',
    collection,
    ttlDays: 30,
    emulatorHost: host,
    log: silentLog,
    ...options,
  });
  return Object.assign(ledger, { collection });
}

/** A plain client on the emulator, for a test to read what the ledger wrote. */
export function emulatorFirestore(host: string): Firestore {
  return new Firestore({ projectId: TEST_PROJECT_ID, host, ssl: false, universeDomain: 'googleapis.com' });
}
