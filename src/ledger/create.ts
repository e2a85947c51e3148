import type { Config } from '../config.js';
import type { Logger } from '../logging.js';
import type { Ledger } from './ledger.js';
import { createMemoryLedger } from './memory.js';
import { createNoLedger } from './none.js';

/**
 * The ledger the configuration names (`LEDGER`); `none` says at WARNING what it costs. The
 * Firestore client is imported only for `firestore`: it takes a good part of a start-up.
 */
export async function createLedger(config: Config['ledger'], log: Logger): Promise<Ledger> {
  switch (config.kind) {
    case 'firestore': {
      const { createFirestoreLedger } = await import('./firestore.js');
      return createFirestoreLedger({
        // loadConfig refuses `firestore` without a project.
        projectId: config.projectId ?? '',
        databaseId: config.databaseId,
        collection: config.collection,
        ttlDays: config.ttlDays,
        emulatorHost: config.emulatorHost,
        log,
      });
    }
    case 'memory':
      return createMemoryLedger();
    case 'none':
      log.warn('LEDGER=none: a redelivered event runs every processor again, and may be published twice');
      return createNoLedger();
  }
}
