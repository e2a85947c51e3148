import { PubSub } from '@google-cloud/pubsub';

import type { Config } from '../config.js';

/**
 * The Pub/Sub client the configuration names: the emulator at `PUBSUB_EMULATOR_HOST` (plain
 * text, no credentials), else Google's endpoint with Application Default Credentials. Importing
 * this module loads the client library (google-gax, gRPC, protobufjs): `serve` does it through
 * `lazyPubSub` (pubsub.ts), when it first needs the client.
 */
export function createPubSub(config: Pick<Config['pubsub'], 'projectId' | 'emulatorHost'>): PubSub {
  return new PubSub({
    ...(config.projectId && { projectId: config.projectId }),
    // Naming the universe keeps the auth library from probing for a metadata server (and
    // warning on stderr) when there are no credentials to find: the emulator needs none.
    ...(config.emulatorHost && {
      apiEndpoint: config.emulatorHost,
      emulatorMode: true,
      universeDomain: 'googleapis.com',
    }),
  });
}
