import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';

import { OrchestratorError, formatIssues, messageOf, type ErrorCode } from '../errors.js';
import type { Logger } from '../logging.js';
import type { HttpServer } from '../transport/http.js';
import type { OpsAuth } from './auth.js';
import './request.js';
import {
  ExecutionPageSchema,
  ExecutionQuerySchema,
  RerunRequestSchema,
  STATS_WINDOWS,
  StatsViewSchema,
  UnderwritingViewSchema,
  type OpsApi,
} from './views.js';

/** The encapsulated `/ops` scope: the service's Fastify instance type, prefixed and authenticated. */
export type OpsScope = FastifyInstance;

/** What registers the page: called once, inside the authenticated `/ops` scope. */
export type OpsPage = (scope: OpsScope, api: OpsApi) => void;

/** Where the operations routes and the page live. */
export const OPS_PREFIX = '/ops';

/**
 * The header every JSON `POST` under `/ops` must carry (any non-empty value; the CLI sends
 * `processor-orchestrator-cli`). A cross-site form cannot set it, and a cross-site script that
 * tries is stopped by the CORS preflight this service never answers: with IAP's browser session, a
 * forged re-run cannot pass. The page's own form cannot set a header either; it is guarded by
 * `same-origin.ts`.
 */
export const CSRF_HEADER = 'x-requested-with';

export interface OpsRoutesOptions {
  api: OpsApi;
  auth: OpsAuth;
  log: Logger;
  /**
   * Registers more routes (the HTML page) in the same scope: under `/ops`, behind the same auth
   * hook, with `request.opsIdentity` set, given the same `OpsApi` the JSON routes use. Paths are
   * relative to the prefix (`scope.get('/', …)` is `GET /ops`). A `POST` it adds must refuse
   * cross-site requests (the page's form is checked by `same-origin.ts`) and check
   * `request.opsIdentity.role`.
   */
  page?: OpsPage;
}

const StatsQuerySchema = z.strictObject({ window: z.enum(STATS_WINDOWS).default('1h') });
const IdParamsSchema = z.object({ id: z.string().min(1).max(1_500) });

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 404,
  REQUEST_INVALID: 400,
  RERUN_REFUSED: 409,
  OPS_UNAVAILABLE: 503,
  LEDGER_UNAVAILABLE: 503,
  PUBLISH_FAILED: 503,
};

/**
 * The operations routes, in one encapsulated scope under `/ops` whose `onRequest` hook
 * authenticates every request (401 / 403 / 503 before anything is read) and sets
 * `request.opsIdentity`:
 * - `GET /ops/underwritings/:id` (404 when the ledger has none), `GET /ops/executions?…`,
 *   `GET /ops/stats?window=1h|24h`: readers and operators;
 * - `POST /ops/underwritings/:id/rerun` (JSON, with `CSRF_HEADER`): operators; 202 `{ key }`.
 * A bad query or body is 400 with what is wrong; errors are `{ error, code }`.
 */
export function registerOps(app: HttpServer, options: OpsRoutesOptions): void {
  const { auth, log } = options;
  // The JSON route and the page's form re-run through the same API, and so log alike.
  const api = loggingReruns(options.api, log);

  void app.register(
    (scope, _options, done) => {
      scope.decorateRequest('opsIdentity', null as unknown as FastifyRequest['opsIdentity']);
      // The API takes JSON only: a form post (what a cross-site page can send) is 415.
      scope.removeContentTypeParser('text/plain');

      scope.addHook('onRequest', async (request, reply) => {
        const verdict = await auth.check(request.headers);
        if (verdict.ok) {
          request.opsIdentity = verdict.identity;
          return;
        }
        // The path without its query; never a header (the token is in one).
        log.warn(
          { status: verdict.status, reason: verdict.reason, method: request.method, path: pathOf(request) },
          'ops request refused',
        );
        if (verdict.status === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"');
        await reply.code(verdict.status).send({ error: verdict.reason });
      });

      scope.setErrorHandler((err: FastifyError, request, reply) => {
        if (err instanceof OrchestratorError) {
          const status = statusOfCode(err.code);
          if (status >= 500)
            log.warn({ code: err.code, path: pathOf(request), reason: err.message }, 'ops request failed');
          return reply.code(status).send({ error: err.message, code: err.code });
        }
        const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
        if (status >= 500) log.error({ path: pathOf(request), err }, 'ops request failed');
        return reply.code(status).send({ error: status >= 500 ? 'internal error' : messageOf(err) });
      });

      scope.get('/underwritings/:id', async (request) => {
        const { id } = parse(IdParamsSchema, request.params, 'path');
        return UnderwritingViewSchema.parse(await api.underwriting(id));
      });

      scope.get('/executions', async (request) => {
        const query = parse(ExecutionQuerySchema, request.query, 'query');
        return ExecutionPageSchema.parse(await api.executions(query));
      });

      scope.get('/stats', async (request) => {
        const { window } = parse(StatsQuerySchema, request.query, 'query');
        return StatsViewSchema.parse(await api.stats(window));
      });

      scope.post('/underwritings/:id/rerun', async (request, reply) => {
        const refused = rerunRefusal(request);
        if (refused) {
          log.warn(
            { path: pathOf(request), email: request.opsIdentity.email, reason: refused },
            'ops request refused',
          );
          return reply.code(403).send({ error: refused });
        }
        const { id } = parse(IdParamsSchema, request.params, 'path');
        const body = parse(RerunRequestSchema, request.body, 'body');
        const { key } = await api.rerun(id, body, request.opsIdentity);
        return reply.code(202).send({ key });
      });

      options.page?.(scope, api);
      done();
    },
    { prefix: OPS_PREFIX },
  );
}

/** `api`, whose every re-run, asked by the JSON route or the page's form, logs who asked and why. */
function loggingReruns(api: OpsApi, log: Logger): OpsApi {
  return {
    ...api,
    async rerun(underwritingId, request, by) {
      const started = await api.rerun(underwritingId, request, by);
      log.info(
        {
          underwriting_id: underwritingId,
          execution_key: started.key,
          requested_by: by.email,
          processors: request.processors,
          reason: request.reason,
        },
        're-run requested',
      );
      return started;
    },
  };
}

/** Why a re-run request is refused before it is read: not an operator, or no CSRF header. */
function rerunRefusal(request: FastifyRequest): string | undefined {
  if (request.opsIdentity.role !== 'operator') {
    return `${request.opsIdentity.email} is a reader; only OPS_OPERATORS may re-run`;
  }
  return crossSiteRefusal(request);
}

/** The HTTP status an ops failure with this error code answers with (the page answers the same). */
export function statusOfCode(code: string): number {
  return STATUS_OF[code as ErrorCode] ?? 500;
}

/** Why a JSON re-run request may have come from another site (it lacks `CSRF_HEADER`), or `undefined`. */
function crossSiteRefusal(request: FastifyRequest): string | undefined {
  const marker = request.headers[CSRF_HEADER];
  if (typeof marker !== 'string' || marker.trim() === '') {
    return `a re-run must carry the ${CSRF_HEADER} header (it keeps other sites from posting one)`;
  }
  return undefined;
}

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new OrchestratorError('REQUEST_INVALID', `${where}: ${formatIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}

const pathOf = (request: FastifyRequest) => request.url.split('?', 1)[0];
