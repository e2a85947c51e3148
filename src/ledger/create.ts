import type { Config } from '../config.js';
import type { Logger } from '../logging.js';
import { createFirestoreLedger } from './firestore.js';
import type { Ledger } from './ledger.js';
import { createMemoryLedger } from './memory.js';
import { createNoLedger } from './none.js';

/** The ledger the configuration names (`LEDGER`); `none` says at WARNING what it costs. */
export function createLedger(config: Config['ledger'], log: Logger): Ledger {
  switch (config.kind) {
    case 'firestore':
      return createFirestoreLedger({
        // loadConfig refuses `firestore` without a project.
        projectId: config.projectId ?? '',
        databaseId: config.databaseId,
        collection: config.collection,
        ttlDays: config.ttlDays,
        emulatorHost: config.emulatorHost,
        log,
      });
    case 'memory':
      return createMemoryLedger();
    case 'none':
      log.warn('LEDGER=none: a redelivered event runs every processor again, and may be published twice');
      return createNoLedger();
  }
}
