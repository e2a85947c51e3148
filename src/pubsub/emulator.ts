import { join } from 'node:path';

import {
  findSdkEmulator,
  startSdkEmulator,
  type Emulator,
  type EmulatorSpec,
  type StartEmulatorOptions,
} from '../emulators/launcher.js';

export type { Emulator, StartEmulatorOptions };

/** The official Pub/Sub emulator (`gcloud beta emulators pubsub start`). */
export const PUBSUB_EMULATOR: EmulatorSpec = {
  name: 'Pub/Sub',
  pathInSdk: join('platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator'),
  args: (host, port) => [`--host=${host}`, `--port=${port}`],
  installHint:
    'install it with: sudo apt-get install google-cloud-cli-pubsub-emulator (or: gcloud components install ' +
    "pubsub-emulator; on Debian without Google's apt repository: deploy/install-emulator.sh)",
};

/** Finds the installed Pub/Sub emulator's launcher; see `findSdkEmulator`. */
export function findEmulator(env: NodeJS.ProcessEnv = process.env): string {
  return findSdkEmulator(PUBSUB_EMULATOR, env);
}

/**
 * Starts the official Pub/Sub emulator on 127.0.0.1; `host` is the value for
 * `PUBSUB_EMULATOR_HOST`, or `apiEndpoint` of a `PubSub` client. See `startSdkEmulator`.
 */
export function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  return startSdkEmulator(PUBSUB_EMULATOR, options);
}
