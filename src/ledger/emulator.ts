import { join } from 'node:path';

import {
  findSdkEmulator,
  startSdkEmulator,
  type Emulator,
  type EmulatorSpec,
  type StartEmulatorOptions,
} from '../emulators/launcher.js';

/** The official Firestore emulator (`gcloud emulators firestore start`); it runs on Java 11 or newer. */
export const FIRESTORE_EMULATOR: EmulatorSpec = {
  name: 'Firestore',
  pathInSdk: join('platform', 'cloud-firestore-emulator', 'cloud_firestore_emulator'),
  args: (host, port) => ['start', `--host=${host}`, `--port=${port}`],
  installHint:
    'install it with: sudo apt-get install google-cloud-cli-firestore-emulator (or: gcloud components install ' +
    "cloud-firestore-emulator; on Debian without Google's apt repository: deploy/install-emulator.sh)",
};

/** Finds the installed Firestore emulator's launcher; see `findSdkEmulator`. */
export function findFirestoreEmulator(env: NodeJS.ProcessEnv = process.env): string {
  return findSdkEmulator(FIRESTORE_EMULATOR, env);
}

/**
 * Starts the official Firestore emulator on 127.0.0.1; `host` is the value for
 * `FIRESTORE_EMULATOR_HOST`. See `startSdkEmulator`.
 */
export function startFirestoreEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  return startSdkEmulator(FIRESTORE_EMULATOR, options);
}
