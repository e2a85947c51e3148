import type { Config } from '../config.js';
import type { Logger } from '../logging.js';
import type { Ledger } from './ledger.js';
import { createMemoryLedger } from './memory.js';
import { createNoLedger } from './none.js';
import { createMemoryOpsState } from './ops-memory.js';
import type { OpsState } from './ops-records.js';

/**
 * The ledger the configuration names (`LEDGER`), and the operations state beside it (pauses, the
 * audit trail, bulk re-run jobs): in the same Firestore database, through the same client; in
 * memory with `memory`; none with `none`. `none` says at WARNING what it costs. The Firestore
 * client is imported only for `firestore`: it takes a good part of a start-up.
 */
export async function createLedger(
  config: Config['ledger'],
  log: Logger,
  ops: Pick<Config['ops'], 'auditTtlDays'> = { auditTtlDays: 400 },
): Promise<{ ledger: Ledger; opsState: OpsState | undefined }> {
  switch (config.kind) {
    case 'firestore': {
      const [{ firestoreClient }, { createFirestoreLedger }, { createFirestoreOpsState }] = await Promise.all(
        [import('./firestore-client.js'), import('./firestore.js'), import('./ops-firestore.js')],
      );
      // loadConfig refuses `firestore` without a project.
      const target = {
        projectId: config.projectId ?? '',
        databaseId: config.databaseId,
        emulatorHost: config.emulatorHost,
      };
      const db = firestoreClient(target);
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
