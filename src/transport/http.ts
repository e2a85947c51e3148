import Fastify, { LogController } from 'fastify';

import { messageOf } from '../errors.js';

import type { Logger } from '../logging.js';

/** What keeps the service from taking work: a name per part, and why it is not ready. */
export type ReadinessProblems = () => Record<string, string>;

/**
 * The HTTP server: `GET /healthz` (the process is alive and serving) and `GET /readyz` (200
 * only when every part is ready, else 503 naming what is not). Transports that arrive over
 * HTTP (the push route) register themselves on the returned instance. Requests are not logged
 * one by one: probes would drown the event lines.
 */
export function createHttpServer(log: Logger, notReady: ReadinessProblems) {
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
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
    const problems = notReady();
    if (Object.keys(problems).length === 0) return reply.send({ status: 'ready' });
    return reply.code(503).send({ status: 'not ready', problems });
  });

  return app;
}

export type HttpServer = ReturnType<typeof createHttpServer>;
