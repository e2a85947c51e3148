import { resolve } from 'node:path';

import { z } from 'zod';

import { ONCE_FIELDS_PARSE, httpUrl, integer, optional, optionalString, refuse } from './fields.js';

export const DOCUMENTS_DEFAULTS = {
  DOCUMENTS_CONCURRENCY: 8,
  DOCUMENTS_TIMEOUT_MS: 5_000,
  DOCUMENTS_BUDGET_MS: 30_000,
  DOCUMENTS_ATTEMPTS: 4,
} as const;

export const documentsVariables = {
  DOCUMENTS_URL: optional(httpUrl),
  DOCUMENTS_AUDIENCE: optionalString,
  DOCUMENTS_CONCURRENCY: integer(1, 256, DOCUMENTS_DEFAULTS.DOCUMENTS_CONCURRENCY),
  DOCUMENTS_TIMEOUT_MS: integer(1, 600_000, DOCUMENTS_DEFAULTS.DOCUMENTS_TIMEOUT_MS),
  DOCUMENTS_BUDGET_MS: integer(1, 600_000, DOCUMENTS_DEFAULTS.DOCUMENTS_BUDGET_MS),
  DOCUMENTS_ATTEMPTS: integer(1, 10, DOCUMENTS_DEFAULTS.DOCUMENTS_ATTEMPTS),
  DOCUMENTS_DIR: optionalString,
};

/** Where an event's documents come from: the document service, or a folder of files. */
export const documentsSection = z
  .object(documentsVariables)
  .superRefine((e, ctx) => {
    if (e.DOCUMENTS_URL && e.DOCUMENTS_DIR) {
      refuse(ctx, 'DOCUMENTS_DIR', 'set DOCUMENTS_URL or DOCUMENTS_DIR, not both');
    }
  }, ONCE_FIELDS_PARSE)
  .transform((e) => ({
    /** Base URL of the document service (no trailing slash). */
    documentsUrl: e.DOCUMENTS_URL,
    /** Audience of the Google ID token attached to document requests. */
    documentsAudience: e.DOCUMENTS_AUDIENCE,
    /** How the HTTP document source fetches (with `documentsUrl`). */
    documentsHttp: {
      /** Requests in flight at once for one event. */
      concurrency: e.DOCUMENTS_CONCURRENCY,
      /** Deadline of one request, body included. */
      timeoutMs: e.DOCUMENTS_TIMEOUT_MS,
      /** Deadline of all the requests of one event, retries and their waits included. */
      budgetMs: e.DOCUMENTS_BUDGET_MS,
      /** Tries per document (network error, 5xx, 429), the first included. */
      attempts: e.DOCUMENTS_ATTEMPTS,
    },
    /** A folder of `{id}.json` document files (absolute), when documents come from files. */
    documentsDir: e.DOCUMENTS_DIR ? resolve(e.DOCUMENTS_DIR) : undefined,
  }));

export type DocumentsConfig = z.output<typeof documentsSection>;
