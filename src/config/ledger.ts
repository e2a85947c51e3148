import { z } from 'zod';

import { LEDGER_KINDS } from '../ledger/ledger.js';
import {
  ONCE_FIELDS_PARSE,
  hostPort,
  integer,
  oneOf,
  optionalString,
  refuse,
  withDefault,
} from './fields.js';

export const LEDGER_DEFAULTS = {
  /** Works without set-up and dedupes within one instance; `dev` and the deploy files use `firestore`. */
  LEDGER: 'memory',
  FIRESTORE_DATABASE: '(default)',
  LEDGER_COLLECTION: 'executions',
  LEDGER_TTL_DAYS: 30,
} as const;

export const ledgerVariables = {
  LEDGER: withDefault(LEDGER_DEFAULTS.LEDGER, oneOf(LEDGER_KINDS)),
  FIRESTORE_DATABASE: withDefault(
    LEDGER_DEFAULTS.FIRESTORE_DATABASE,
    z
      .string()
      .regex(
        /^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$/,
        'must be (default) or a database id: 4–63 lower-case letters, digits or -, starting with a letter',
      ),
  ),
  LEDGER_COLLECTION: withDefault(
    LEDGER_DEFAULTS.LEDGER_COLLECTION,
    z
      .string()
      .regex(
        /^(?!__)[A-Za-z0-9_-]{1,100}$/,
        'must be a collection id: 1–100 letters, digits, _ or -, not starting with __',
      ),
  ),
  LEDGER_TTL_DAYS: integer(1, 3_650, LEDGER_DEFAULTS.LEDGER_TTL_DAYS),
  FIRESTORE_EMULATOR_HOST: hostPort,
};

/** The execution ledger (docs/ledger.md). */
export const ledgerSection = z
  .object({
    ...ledgerVariables,
    // Read here, owned by the pubsub section: the Firestore database is in the same project.
    GOOGLE_CLOUD_PROJECT: optionalString,
  })
  .superRefine((e, ctx) => {
    if (e.LEDGER === 'firestore' && !e.GOOGLE_CLOUD_PROJECT) {
      refuse(
        ctx,
        'GOOGLE_CLOUD_PROJECT',
        'required with LEDGER=firestore (the project of the Firestore database)',
      );
    }
  }, ONCE_FIELDS_PARSE)
  .transform((e) => ({
    ledger: {
      kind: e.LEDGER,
      /** Required with `firestore`. */
      projectId: e.GOOGLE_CLOUD_PROJECT,
      databaseId: e.FIRESTORE_DATABASE,
      collection: e.LEDGER_COLLECTION,
      ttlDays: e.LEDGER_TTL_DAYS,
      /** host:port of the Firestore emulator, when talking to it. */
      emulatorHost: e.FIRESTORE_EMULATOR_HOST,
    },
  }));

export type LedgerConfig = z.output<typeof ledgerSection>;
