import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

import { OrchestratorError, formatIssues, httpStatusOf, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import type { HttpServer } from '../transport/http.js';
import { actRefusal } from './access.js';
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

/** The header every JSON `POST` under `/ops` must carry: see same-origin.ts. */
export { CSRF_HEADER } from './same-origin.js';

export interface OpsRoutesOptions {
  api: OpsApi;
  auth: OpsAuth;
  log: Logger;
  /**
   * Registers more routes (the HTML page) in the same scope: under `/ops`, behind the same auth
   * hook, with `request.opsIdentity` set, given the same `OpsApi` the JSON routes use. Paths are
   * relative to the prefix (`scope.get('/', …)` is `GET /ops`). A `POST` it adds must ask
   * access.ts's `actRefusal` first (the operator role, and the request's origin).
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
      authenticate(scope, auth, log);
      answerErrors(scope, log);
      registerReads(scope, api);
      registerActions(scope, api, log);
      options.page?.(scope, api);
      done();
    },
    { prefix: OPS_PREFIX },
  );
}

/** Every request in the scope: 401 / 403 / 503 before anything is read, else `request.opsIdentity`. */
function authenticate(scope: OpsScope, auth: OpsAuth, log: Logger): void {
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
}

/** Errors as `{ error, code }`: a catalogued code's status, else the error's own (500 said only as "internal error"). */
function answerErrors(scope: OpsScope, log: Logger): void {
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
}

/** What readers and operators may read. */
function registerReads(scope: OpsScope, api: OpsApi): void {
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

  scope.get('/processors', async () => ProcessorsViewSchema.parse(await api.processors()));

  scope.get('/reruns', async () => JobsViewSchema.parse(await api.jobs()));

  scope.get('/reruns/:job', async (request) => {
    const { job } = parse(JobParamsSchema, request.params, 'path');
    return JobAnswerSchema.parse(await api.job(job));
  });

  scope.get('/audit', async (request) => {
    const query = parse(AuditQuerySchema, request.query, 'query');
    return AuditPageSchema.parse(await api.audit(query));
  });
}

/** What only operators may do, each request refused (403) first by access.ts when it may not. */
function registerActions(scope: OpsScope, api: OpsApi, log: Logger): void {
  /** Refuses (403) a request to act from a reader or from another site; says whether it did. */
  async function refused(request: FastifyRequest, reply: FastifyReply, what: string): Promise<boolean> {
    const refusal = actRefusal(request.opsIdentity, request.headers, 'api', what);
    if (!refusal) return false;
    log.warn(
      { path: pathOf(request), email: request.opsIdentity.email, reason: refusal.reason },
      'ops request refused',
    );
    await reply.code(403).send({ error: refusal.reason });
    return true;
  }
  const by = (request: FastifyRequest) => request.opsIdentity.email;

  scope.post('/underwritings/:id/rerun', async (request, reply) => {
    if (await refused(request, reply, 're-run')) return reply;
    const { id } = parse(IdParamsSchema, request.params, 'path');
    const body = parse(RerunRequestSchema, request.body, 'body');
    const { key } = await api.rerun(id, body, request.opsIdentity);
    return reply.code(202).send({ key });
  });

  scope.post('/processors/:id/pause', async (request, reply) => {
    if (await refused(request, reply, 'pause')) return reply;
    const { id } = parse(IdParamsSchema, request.params, 'path');
    const { reason } = parse(PauseRequestSchema, request.body, 'body');
    const answer = PauseAnswerSchema.parse(await api.pause(id, reason, request.opsIdentity));
    log.warn({ processor_id: id, paused_by: by(request), reason, scope: answer.scope }, 'processor paused');
    return answer;
  });

  scope.post('/processors/:id/resume', async (request, reply) => {
    if (await refused(request, reply, 'resume')) return reply;
    const { id } = parse(IdParamsSchema, request.params, 'path');
    const { reason } = parse(OptionalReasonSchema, request.body, 'body');
    const answer = PauseAnswerSchema.parse(await api.resume(id, reason, request.opsIdentity));
    log.info({ processor_id: id, resumed_by: by(request), reason: reason ?? null }, 'processor resumed');
    return answer;
  });

  scope.post('/reruns', async (request, reply) => {
    if (await refused(request, reply, 're-run')) return reply;
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

  scope.post('/reruns/:job/cancel', async (request, reply) => {
    if (await refused(request, reply, 'cancel')) return reply;
    const { job } = parse(JobParamsSchema, request.params, 'path');
    const { reason } = parse(OptionalReasonSchema, request.body, 'body');
    const answer = JobAnswerSchema.parse(await api.cancelJob(job, reason, request.opsIdentity));
    log.info(
      { job, cancelled_by: by(request), reason: reason ?? null, counts: answer.job.counts },
      'bulk re-run job cancelled',
    );
    return answer;
  });
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

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new OrchestratorError('REQUEST_INVALID', `${where}: ${formatIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}

const pathOf = (request: FastifyRequest) => request.url.split('?', 1)[0];
