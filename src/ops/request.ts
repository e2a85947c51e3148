// The one place the Fastify request type learns about the operations caller.
import type { OpsIdentity } from './views.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `/ops` scope's auth hook before any route or page handler runs. */
    opsIdentity: OpsIdentity;
  }
}

export type { OpsIdentity };
