import type { TestProject } from 'vitest/node';

import { startEmulator } from '../../src/pubsub/emulator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:PORT` of the Pub/Sub emulator started for this test run; see `tests/helpers/pubsub.ts`. */
    pubsubEmulatorHost: string;
  }
}

/**
 * Starts one official Pub/Sub emulator for the whole run and stops it afterwards. A missing
 * emulator fails the run with the install instructions: integration tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulator = await startEmulator();
  project.provide('pubsubEmulatorHost', emulator.host);
  return () => emulator.stop();
}
