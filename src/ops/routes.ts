import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

import { OrchestratorError, formatIssues, httpStatusOf, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import type { HttpServer } from '../transport/http.js';
import type { OpsAuth } from './auth.js';
import './request.js';
import {
  AuditPageSchema,
  AuditQuerySchema,
  BulkRerunRequestSchema,
  DryRunViewSchema,
  ExecutionPageSchema,
  ExecutionQuerySchema,
  JobAnswerSchema,
  JobsViewSchema,
  OptionalReasonSchema,
  PauseAnswerSchema,
  PauseRequestSchema,
  ProcessorsViewSchema,
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
const JobParamsSchema = z.object({ job: z.string().min(1).max(200) });
/** `Idempotency-Key` (the IETF draft's header): a repeated POST with it finds the job it made. */
const IdempotencyHeaderSchema = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,200}$/, 'Idempotency-Key: 1 to 200 visible ASCII characters')
    .optional(),
});

/**
 * The operations routes, in one encapsulated scope under `/ops` whose `onRequest` hook
 * authenticates every request (401 / 403 / 503 before anything is read) and sets
 * `request.opsIdentity`:
 * - `GET /ops/underwritings/:id` (404 when the ledger has none), `GET /ops/executions?…`,
 *   `GET /ops/stats?window=1h|24h`: readers and operators;
 * - `POST /ops/underwritings/:id/rerun` (JSON, with `CSRF_HEADER`): operators; 202 `{ key }`;
 * - `GET /ops/processors`, `GET /ops/reruns`, `GET /ops/reruns/:job`, `GET /ops/audit`: readers and operators;
 * - `POST /ops/processors/:id/pause` and `/resume`, `POST /ops/reruns` (`Idempotency-Key` header;
 *   200 a dry run or the job that key made before, 202 a new job), `POST /ops/reruns/:job/cancel`:
 *   operators, JSON, with `CSRF_HEADER`.
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
          const status = httpStatusOf(err.code);
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

      /** Refuses (403) a request to act from a reader or without the CSRF header; says whether it did. */
      async function refused(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
        const why = actionRefusal(request);
        if (!why) return false;
        log.warn(
          { path: pathOf(request), email: request.opsIdentity.email, reason: why },
          'ops request refused',
        );
        await reply.code(403).send({ error: why });
        return true;
      }
      const by = (request: FastifyRequest) => request.opsIdentity.email;

      scope.post('/underwritings/:id/rerun', async (request, reply) => {
        if (await refused(request, reply)) return reply;
        const { id } = parse(IdParamsSchema, request.params, 'path');
        const body = parse(RerunRequestSchema, request.body, 'body');
        const { key } = await api.rerun(id, body, request.opsIdentity);
        return reply.code(202).send({ key });
      });

      scope.get('/processors', async () => ProcessorsViewSchema.parse(await api.processors()));

      scope.post('/processors/:id/pause', async (request, reply) => {
        if (await refused(request, reply)) return reply;
        const { id } = parse(IdParamsSchema, request.params, 'path');
        const { reason } = parse(PauseRequestSchema, request.body, 'body');
        const answer = PauseAnswerSchema.parse(await api.pause(id, reason, request.opsIdentity));
        log.warn(
          { processor_id: id, paused_by: by(request), reason, scope: answer.scope },
          'processor paused',
        );
        return answer;
      });

      scope.post('/processors/:id/resume', async (request, reply) => {
        if (await refused(request, reply)) return reply;
        const { id } = parse(IdParamsSchema, request.params, 'path');
        const { reason } = parse(OptionalReasonSchema, request.body, 'body');
        const answer = PauseAnswerSchema.parse(await api.resume(id, reason, request.opsIdentity));
        log.info({ processor_id: id, resumed_by: by(request), reason: reason ?? null }, 'processor resumed');
        return answer;
      });

      scope.post('/reruns', async (request, reply) => {
        if (await refused(request, reply)) return reply;
        const body = parse(BulkRerunRequestSchema, request.body, 'body');
        const { 'idempotency-key': key } = parse(IdempotencyHeaderSchema, request.headers, 'header');
        const answer = await api.bulkRerun(body, request.opsIdentity, key);
        if ('dry_run' in answer) return DryRunViewSchema.parse(answer);
        const { job, created } = JobAnswerSchema.parse(answer);
        log.info(
          {
            job: job.id,
            created,
            requested_by: by(request),
            selection: job.selection,
            selected: job.counts.selected,
            reason: body.reason,
          },
          created ? 'bulk re-run job created' : 'bulk re-run job asked for again (same Idempotency-Key)',
        );
        return reply.code(created ? 202 : 200).send(answer);
      });

      scope.get('/reruns', async () => JobsViewSchema.parse(await api.jobs()));

      scope.get('/reruns/:job', async (request) => {
        const { job } = parse(JobParamsSchema, request.params, 'path');
        return JobAnswerSchema.parse(await api.job(job));
      });

      scope.post('/reruns/:job/cancel', async (request, reply) => {
        if (await refused(request, reply)) return reply;
        const { job } = parse(JobParamsSchema, request.params, 'path');
        const { reason } = parse(OptionalReasonSchema, request.body, 'body');
        const answer = JobAnswerSchema.parse(await api.cancelJob(job, reason, request.opsIdentity));
        log.info(
          { job, cancelled_by: by(request), reason: reason ?? null, counts: answer.job.counts },
          'bulk re-run job cancelled',
        );
        return answer;
      });

      scope.get('/audit', async (request) => {
        const query = parse(AuditQuerySchema, request.query, 'query');
        return AuditPageSchema.parse(await api.audit(query));
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

/** Why a request to act is refused before it is read: not an operator, or no CSRF header. */
function actionRefusal(request: FastifyRequest): string | undefined {
  if (request.opsIdentity.role !== 'operator') {
    return `${request.opsIdentity.email} is a reader; only OPS_OPERATORS may re-run, pause, resume or cancel`;
  }
  return crossSiteRefusal(request);
}

/** Why a JSON re-run request may have come from another site (it lacks `CSRF_HEADER`), or `undefined`. */
function crossSiteRefusal(request: FastifyRequest): string | undefined {
  const marker = request.headers[CSRF_HEADER];
  if (typeof marker !== 'string' || marker.trim() === '') {
    return `a request to act must carry the ${CSRF_HEADER} header (it keeps other sites from posting one)`;
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
