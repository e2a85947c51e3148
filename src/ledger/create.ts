import type { Firestore } from '@google-cloud/firestore';

import type { Config } from '../config.js';
import type { Logger } from '../logging.js';
import { firestoreClient } from './firestore-client.js';
import { createFirestoreLedger } from './firestore.js';
import type { Ledger } from './ledger.js';
import { createMemoryLedger } from './memory.js';
import { createNoLedger } from './none.js';
import { createFirestoreOpsState } from './ops-firestore.js';
import { createMemoryOpsState } from './ops-memory.js';
import type { OpsState } from './ops-records.js';

/**
 * The ledger the configuration names (`LEDGER`), and the operations state beside it (pauses, the
 * audit trail, bulk re-run jobs): in the same Firestore database, through the same client; in
 * memory with `memory`; none with `none`. `none` says at WARNING what it costs.
 */
export function createLedger(
  config: Config['ledger'],
  log: Logger,
  ops: Pick<Config['ops'], 'auditTtlDays'> = { auditTtlDays: 400 },
): { ledger: Ledger; opsState: OpsState | undefined } {
  switch (config.kind) {
    case 'firestore': {
      // loadConfig refuses `firestore` without a project.
      const target = {
        projectId: config.projectId ?? '',
        databaseId: config.databaseId,
        emulatorHost: config.emulatorHost,
      };
      const db: Firestore = firestoreClient(target);
      const ledger = createFirestoreLedger({
        ...target,
        collection: config.collection,
        ttlDays: config.ttlDays,
        log,
        db,
      });
      const opsState = createFirestoreOpsState({
        db,
        ledgerCollection: config.collection,
        auditTtlDays: ops.auditTtlDays,
      });
      return { ledger, opsState };
    }
    case 'memory':
      return { ledger: createMemoryLedger(), opsState: createMemoryOpsState() };
    case 'none':
      log.warn('LEDGER=none: a redelivered event runs every processor again, and may be published twice');
      return { ledger: createNoLedger(), opsState: undefined };
  }
}
