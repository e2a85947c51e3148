// The one Firestore client of a service (the ledger and the operations state beside it share it),
// and how every call to it is bounded.
import { setTimeout as sleep } from 'node:timers/promises';

import { Firestore } from '@google-cloud/firestore';

import { OrchestratorError, messageOf } from '../errors.js';

export interface FirestoreTarget {
  projectId: string;
  /** `(default)` or a named database. */
  databaseId: string;
  /** `host:port` of the Firestore emulator, when talking to it. */
  emulatorHost: string | undefined;
}

export function firestoreClient(target: FirestoreTarget): Firestore {
  return new Firestore({
    projectId: target.projectId,
    databaseId: target.databaseId,
    // Naming the universe keeps the auth library from probing for a metadata server (and
    // warning on stderr) when there are no credentials to find: the emulator needs none.
    ...(target.emulatorHost && { host: target.emulatorHost, ssl: false, universeDomain: 'googleapis.com' }),
  });
}

/** gRPC status codes the callers tell apart. */
export const GRPC = { NOT_FOUND: 5, ALREADY_EXISTS: 6, FAILED_PRECONDITION: 9 } as const;

export const codeOf = (err: unknown) => (err as { code?: unknown } | null)?.code;

/** An answer a caller tells apart (the document exists or not, a precondition failed). */
export function isExpected(err: unknown): boolean {
  const code = codeOf(err);
  return code === GRPC.ALREADY_EXISTS || code === GRPC.FAILED_PRECONDITION || code === GRPC.NOT_FOUND;
}

/** The longest one Firestore call may take before the store counts as unavailable. */
export const FIRESTORE_CALL_MS = 5_000;

/**
 * Runs one Firestore call within `timeoutMs`. The answers a caller tells apart (`isExpected`) are
 * rethrown as they are; any other failure, or no answer in time, is LEDGER_UNAVAILABLE naming
 * `what`, with the failure as its cause.
 */
export async function firestoreCall<T>(
  what: string,
  call: () => Promise<T>,
  timeoutMs: number = FIRESTORE_CALL_MS,
): Promise<T> {
  const timer = new AbortController();
  const expired = sleep(timeoutMs, undefined, { signal: timer.signal }).then(() => {
    throw new Error(`no answer within ${timeoutMs} ms`);
  });
  // The losing side of the race must not count as unhandled.
  expired.catch(() => {});
  try {
    return await Promise.race([call(), expired]);
  } catch (err) {
    if (isExpected(err)) throw err;
    throw new OrchestratorError('LEDGER_UNAVAILABLE', `Firestore: ${what}: ${messageOf(err)}`, {
      cause: err,
    });
  } finally {
    timer.abort();
  }
}
