// The /ops page: server-rendered HTML over the same `OpsApi` as the JSON routes, so it shows exactly
// what the API says. Reading works without script; the one script only reloads a page that waits
// for a re-run. Every response carries a strict Content-Security-Policy (no inline script or style).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { messageOf } from '../errors.js';
import { OPS_ASSETS, OPS_CSS, OPS_JS } from './assets.js';
import { detailPage, type RerunFormState } from './page-detail.js';
import { OPS_PAGE, errorPage } from './page-layout.js';
import { listPage } from './page-list.js';
import './request.js';
import { statusOfCode } from './routes.js';
import { crossSiteReason } from './same-origin.js';
import {
  ExecutionQuerySchema,
  RerunRequestSchema,
  STATS_WINDOWS,
  type ExecutionQuery,
  type OpsApi,
  type RerunRequest,
  type StatsWindow,
  type UnderwritingView,
} from './views.js';

/** Sent with every page, asset and page error. */
export const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  // `same-origin` keeps browsers sending `Origin` on the page's own POSTs (see same-origin.ts).
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** A page path as registered in the scope, whose prefix is `/ops`. */
const relative = (path: string) => path.slice(OPS_PAGE.list.length) || '/';

const DEFAULT_WINDOW: StatsWindow = '24h';
const PAGE_SIZE = 50;

/** The HTTP status an `OpsApi` failure answers with, as the JSON routes do. */
function statusOf(err: unknown): number {
  const { statusCode, code } = (err ?? {}) as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600) return statusCode;
  return typeof code === 'string' ? statusOfCode(code) : 500;
}

/** What an operator may read about a failure: its message, unless it is an internal error. */
function describe(request: FastifyRequest, err: unknown): { status: number; message: string } {
  const status = statusOf(err);
  if (status === 500) {
    request.log.error({ err, url: request.url }, 'ops page failed');
    return { status, message: 'Internal error; the service log has the details.' };
  }
  return { status, message: messageOf(err) };
}

function sendHtml(reply: FastifyReply, status: number, body: string) {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

function first(value: unknown): string | undefined {
  const one = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof one === 'string' && one.trim() !== '' ? one.trim() : undefined;
}

/** The list's filters from its query string; a filter that cannot be read is dropped and said. */
function readFilters(raw: Record<string, unknown>): {
  query: ExecutionQuery;
  window: StatsWindow;
  problem?: string;
} {
  const windowParam = first(raw['window']);
  const window = STATS_WINDOWS.find((w) => w === windowParam) ?? DEFAULT_WINDOW;
  const wanted = {
    status: first(raw['status']),
    processor: first(raw['processor']),
    cursor: first(raw['cursor']),
    limit: PAGE_SIZE,
  };
  const parsed = ExecutionQuerySchema.safeParse(wanted);
  if (parsed.success) return { query: parsed.data, window };
  const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ');
  return {
    query: ExecutionQuerySchema.parse({ limit: PAGE_SIZE }),
    window,
    problem: `Filters ignored: ${fields} cannot be read; showing every recent underwriting.`,
  };
}

/** The re-run request the form asked for: `failed` alone, or the named processors (with the failing ones). */
function rerunRequest(
  view: UnderwritingView,
  chosen: string[],
  reason: string,
): { request: RerunRequest } | { problem: string } {
  if (chosen.length === 0) return { problem: 'Choose at least one processor to run again.' };
  let processors: RerunRequest['processors'] = 'failed';
  if (chosen.some((p) => p !== 'failed')) {
    const failing = (view.executions[0]?.processors ?? [])
      .filter((p) => p.status !== 'completed')
      .map((p) => p.processor_id);
    const named = chosen.filter((p) => p !== 'failed');
    processors = [...new Set([...(chosen.includes('failed') ? failing : []), ...named])];
  }
  const parsed = RerunRequestSchema.safeParse({ processors, reason });
  if (!parsed.success)
    return { problem: 'Give a reason for the re-run (1 to 500 characters); it is recorded.' };
  return { request: parsed.data };
}

/**
 * Registers the page on `scope`: the authenticated `/ops` scope, which sets `request.opsIdentity`
 * before its routes run (readers and operators; only operators see and may post the re-run form).
 * Routes: `GET /ops` (list and stats), `GET /ops/u/{id}` (detail), `POST /ops/u/{id}/rerun` (the
 * form, urlencoded; refused when cross-site, see same-origin.ts; answers 303 to the detail page),
 * and the stylesheet and script under `/ops/assets/`. The scope's route prefix is `/ops`.
 */
export function registerOpsPage(scope: FastifyInstance, api: OpsApi): void {
  void scope.register((page, _options, registered) => {
    page.addHook('onSend', (_request, reply, payload, sent) => {
      reply.headers(PAGE_HEADERS);
      sent(null, payload);
    });
    page.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16_384 },
      (_request, body, done) => done(null, new URLSearchParams(body as string)),
    );

    page.get(relative(OPS_ASSETS.css), (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(OPS_CSS),
    );
    page.get(relative(OPS_ASSETS.js), (_request, reply) =>
      reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(OPS_JS),
    );

    page.get('/', async (request, reply) => {
      const identity = request.opsIdentity;
      const { query, window, problem } = readFilters(request.query as Record<string, unknown>);
      try {
        const [executions, stats] = await Promise.all([api.executions(query), api.stats(window)]);
        return sendHtml(reply, 200, listPage({ identity, query, window, page: executions, stats, problem }));
      } catch (err) {
        const { status, message } = describe(request, err);
        return sendHtml(reply, status, errorPage(identity, status, message));
      }
    });

    page.get<{ Params: { id: string }; Querystring: { rerun?: string; at?: string } }>(
      '/u/:id',
      async (request, reply) => {
        const identity = request.opsIdentity;
        try {
          const view = await api.underwriting(request.params.id);
          const key = first(request.query.rerun);
          const at = Number(first(request.query.at));
          const requestedRerun = key ? { key, at: Number.isFinite(at) ? at : 0 } : undefined;
          return sendHtml(reply, 200, detailPage({ identity, view, requestedRerun }));
        } catch (err) {
          const { status, message } = describe(request, err);
          return sendHtml(reply, status, errorPage(identity, status, message));
        }
      },
    );

    page.post<{ Params: { id: string } }>('/u/:id/rerun', async (request, reply) => {
      const identity = request.opsIdentity;
      const crossSite = crossSiteReason(request.headers);
      if (crossSite) {
        request.log.warn(
          { url: request.url, reason: crossSite, by: identity.email },
          'ops re-run form refused',
        );
        return sendHtml(reply, 403, errorPage(identity, 403, `Refused: ${crossSite}.`));
      }
      if (identity.role !== 'operator') {
        return sendHtml(reply, 403, errorPage(identity, 403, `${identity.email} may read but not re-run.`));
      }
      const id = request.params.id;
      const body = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
      const chosen = body.getAll('processors');
      const reason = body.get('reason') ?? '';
      let view: UnderwritingView;
      try {
        view = await api.underwriting(id);
      } catch (err) {
        const { status, message } = describe(request, err);
        return sendHtml(reply, status, errorPage(identity, status, message));
      }
      const asked = rerunRequest(view, chosen, reason);
      const refuse = (status: number, problem: string) => {
        const form: RerunFormState = { processors: chosen, reason, problem };
        return sendHtml(reply, status, detailPage({ identity, view, form }));
      };
      if ('problem' in asked) return refuse(400, asked.problem);
      try {
        const { key } = await api.rerun(id, asked.request, identity);
        const next = `${OPS_PAGE.detail(id)}?rerun=${encodeURIComponent(key)}&at=${Date.now()}`;
        return reply.redirect(next, 303);
      } catch (err) {
        const { status, message } = describe(request, err);
        return refuse(status, `The re-run was not started: ${message}`);
      }
    });
    registered();
  });
}
