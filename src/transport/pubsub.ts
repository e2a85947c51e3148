import { PubSub } from '@google-cloud/pubsub';

import type { Config } from '../config.js';

/**
 * The Pub/Sub client the configuration names: the emulator at `PUBSUB_EMULATOR_HOST` (plain
 * text, no credentials), else Google's endpoint with Application Default Credentials.
 */
export function createPubSub(
  config: Pick<Config['pubsub'], 'projectId' | 'emulatorHost'>,
  options: { tracing?: boolean } = {},
): PubSub {
  return new PubSub({
    ...(config.projectId && { projectId: config.projectId }),
    // Its spans (publish, receive) join the service's, and it carries context in message
    // attributes; only when an OpenTelemetry SDK exports them (see telemetry/sdk.ts).
    ...(options.tracing && { enableOpenTelemetryTracing: true }),
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

/** Whether the client records spans and propagates context itself (`enableOpenTelemetryTracing`). */
export function tracingEnabled(pubsub: PubSub): boolean {
  return pubsub.options.enableOpenTelemetryTracing === true;
}
