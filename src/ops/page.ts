// The /ops page: server-rendered HTML over the same `OpsApi` as the JSON routes, so it shows exactly
// what the API says. Reading works without script; the one script only reloads a page that waits
// for a re-run. Every response carries a strict Content-Security-Policy (no inline script or style).
import type { FastifyInstance } from 'fastify';

import { OPS_ASSETS, OPS_CSS, OPS_JS } from './assets.js';
import { registerActionPages } from './page-actions.js';
import { detailPage, type RerunFormState } from './page-detail.js';
import { describe, first, formOf, formRefusal, sendHtml } from './page-http.js';
import { OPS_PAGE, errorPage } from './page-layout.js';
import { listPage } from './page-list.js';
import './request.js';
import {
  ExecutionQuerySchema,
  RerunRequestSchema,
  type ExecutionQuery,
  type OpsApi,
  type RerunRequest,
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

const PAGE_SIZE = 50;
/** The filters the list reads from its query string (as `GET /ops/executions` names them). */
export const LIST_FILTERS = [
  'status',
  'processor',
  'outcome',
  'error_code',
  'error',
  'underwriting',
  'since',
  'until',
] as const;

/** A time from a `datetime-local` field (UTC, to the minute or second) or an ISO time, as ISO. */
function isoTime(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(value)) return `${value}:00Z`;
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(value)) return `${value}Z`;
  return value;
}

/** The list's filters from its query string; a filter that cannot be read is dropped and said. */
function readFilters(raw: Record<string, unknown>): { query: ExecutionQuery; problem?: string } {
  const wanted: Record<string, unknown> = { cursor: first(raw['cursor']), limit: PAGE_SIZE };
  for (const name of LIST_FILTERS) wanted[name] = first(raw[name]);
  wanted['since'] = isoTime(first(raw['since']));
  wanted['until'] = isoTime(first(raw['until']));
  const parsed = ExecutionQuerySchema.safeParse(wanted);
  if (parsed.success) return { query: parsed.data };
  const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ');
  return {
    query: ExecutionQuerySchema.parse({ limit: PAGE_SIZE }),
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
 * before its routes run (readers and operators; only operators see and may post the forms).
 * Routes: `GET /ops` (banner, processors, find runs, bulk re-runs, audit), `GET /ops/u/{id}`
 * (detail), `POST /ops/u/{id}/rerun` (the form, urlencoded; refused when cross-site, see
 * same-origin.ts; answers 303 to the detail page), the processor and job pages and their forms
 * (page-actions.ts), and the stylesheet and script under `/ops/assets/`. The scope's route prefix
 * is `/ops`.
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

    registerReadPages(page, api);
    registerRerunForm(page, api);
    registerActionPages(page, api);
    registered();
  });
}

/** `GET /ops` (the list, with the banner, processors, bulk re-runs and the audit) and `GET /ops/u/{id}`. */
function registerReadPages(page: FastifyInstance, api: OpsApi): void {
  page.get('/', async (request, reply) => {
    const identity = request.opsIdentity;
    const { query, problem } = readFilters(request.query as Record<string, unknown>);
    try {
      const [executions, processors, jobs, audit] = await Promise.all([
        api.executions(query),
        api.processors(),
        api.jobs(),
        api.audit({ limit: 10 }),
      ]);
      return sendHtml(
        reply,
        200,
        listPage({ identity, query, page: executions, processors, jobs, audit, problem }),
      );
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
}

/** `POST /ops/u/{id}/rerun`: the detail page's re-run form; 303 to the detail page, which follows the re-run. */
function registerRerunForm(page: FastifyInstance, api: OpsApi): void {
  page.post<{ Params: { id: string } }>('/u/:id/rerun', async (request, reply) => {
    const identity = request.opsIdentity;
    const refused = formRefusal(request, reply, 're-run');
    if (refused) return refused;
    const id = request.params.id;
    const body = formOf(request);
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
}
