import type { PubSub } from '@google-cloud/pubsub';

import type { Config } from '../config.js';

/** The one Pub/Sub client of a service, loaded when first asked for; see `lazyPubSub`. */
export type PubSubClient = () => Promise<PubSub>;

/**
 * A Pub/Sub client created on the first call of `client` (and the same one after), so that
 * `serve` can listen and take pushes before the client library is loaded: loading it is the
 * largest part of a start-up. `close` closes it if it was ever asked for.
 */
export function lazyPubSub(config: Pick<Config['pubsub'], 'projectId' | 'emulatorHost'>): {
  client: PubSubClient;
  close(): Promise<void>;
} {
  let loading: Promise<PubSub> | undefined;
  return {
    client: () => (loading ??= import('./pubsub-client.js').then(({ createPubSub }) => createPubSub(config))),
    close: async () => {
      const pubsub = await loading?.catch(() => undefined);
      await pubsub?.close();
    },
  };
}

/** Calls `make` once, on first use, and hands back its promise after. */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/** gRPC status codes the transport tells apart. */
export const GRPC = { NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7 } as const;

export function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
