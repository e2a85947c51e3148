import { PubSub } from '@google-cloud/pubsub';

import type { Config } from '../config.js';

/**
 * The Pub/Sub client the configuration names: the emulator at `PUBSUB_EMULATOR_HOST` (plain
 * text, no credentials), else Google's endpoint with Application Default Credentials.
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

/** gRPC status codes the transport tells apart. */
export const GRPC = { NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7 } as const;

export function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
