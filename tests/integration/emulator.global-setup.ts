import type { TestProject } from 'vitest/node';

import { startFirestoreEmulator } from '../../src/ledger/emulator.js';
import { startEmulator } from '../../src/pubsub/emulator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:PORT` of the Pub/Sub emulator started for this test run; see `tests/helpers/pubsub.ts`. */
    pubsubEmulatorHost: string;
    /** `127.0.0.1:PORT` of the Firestore emulator started for this test run; see `tests/helpers/firestore.ts`. */
    firestoreEmulatorHost: string;
  }
}

/**
 * Starts one official Pub/Sub emulator and one Firestore emulator for the whole run, and stops
 * them afterwards. A missing emulator fails the run with the install instructions: integration
 * tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [pubsub, firestore] = await Promise.allSettled([startEmulator(), startFirestoreEmulator()]);
  if (pubsub.status === 'rejected' || firestore.status === 'rejected') {
    if (pubsub.status === 'fulfilled') await pubsub.value.stop();
    if (firestore.status === 'fulfilled') await firestore.value.stop();
    throw pubsub.status === 'rejected' ? pubsub.reason : (firestore as PromiseRejectedResult).reason;
  }
  project.provide('pubsubEmulatorHost', pubsub.value.host);
  project.provide('firestoreEmulatorHost', firestore.value.host);
  return async () => {
    await Promise.all([pubsub.value.stop(), firestore.value.stop()]);
  };
}
