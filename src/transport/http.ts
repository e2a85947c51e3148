import Fastify, { LogController } from 'fastify';

import { messageOf } from '../errors.js';

import type { Logger } from '../logging.js';

/**
 * What keeps the service from taking work (`problems`: a name per part, and why it is not
 * ready), and what is still warming up without keeping it from taking work (`warming`).
 */
export type Readiness = () => { problems: Record<string, string>; warming?: Record<string, string> };

/**
 * The HTTP server: `GET /healthz` (the process is alive and serving) and `GET /readyz` (200
 * when nothing keeps the service from taking work, naming what still warms up; else 503 naming
 * what is not ready). Transports that arrive over
 * HTTP (the push route) register themselves on the returned instance. Requests are not logged
 * one by one: probes would drown the event lines.
 */
export function createHttpServer(log: Logger, readiness: Readiness) {
  const app = Fastify({
    loggerInstance: log,
    // Routes declare no JSON schema (zod parses what comes in, STYLE.md): Fastify's own compilers
    // (Ajv, fast-json-stringify) would only cost a start-up their loading.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    logController: new LogController({ disableRequestLogging: true }),
    // A request's log is the service's own: a child logger per request (Fastify's default, for its
    // request id) cost about 0.15 ms of the main thread a push, for a binding no line uses.
    childLoggerFactory: (logger) => logger,
  });
  // With request logging off, Fastify would not log its own errors either: they are ours to log.
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
    const where = { method: request.method, url: request.url };
    if (status >= 500) {
      log.error({ ...where, err }, 'request failed');
    } else {
      // A body too large or not JSON: Pub/Sub does not send those, so the sender is worth knowing.
      const code = (err as { code?: string }).code;
      log.warn({ ...where, status, code, reason: err.message }, 'request refused');
    }
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : messageOf(err) });
  });

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));

  app.get('/readyz', (_request, reply) => {
    const { problems, warming = {} } = readiness();
    if (Object.keys(problems).length === 0) {
      return reply.send(
        Object.keys(warming).length === 0 ? { status: 'ready' } : { status: 'ready', warming },
      );
    }
    return reply.code(503).send({ status: 'not ready', problems });
  });

  return app;
}

function noSchemas(): never {
  throw new Error(
    'a route declares a JSON schema: parse its input with zod instead (Fastify has no schema compiler here)',
  );
}

export type HttpServer = ReturnType<typeof createHttpServer>;
