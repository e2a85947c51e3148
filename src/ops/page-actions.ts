// The page's processor and job pages and their forms (urlencoded; refused from another site or from
// a reader, see page-http.ts): pause, resume, "re-run failed since…" (a dry run, then the
// confirmation, sent with the idempotency key minted for that dry run so that a second click finds
// the same job), and cancel. Each answers 303 to the page that shows the result.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ulid } from 'ulid';

import { FAILURE_CODES } from '../events/processing-completed.js';
import { describe, first, formOf, formRefusal, sendHtml } from './page-http.js';
import { jobPage } from './page-jobs.js';
import { OPS_PAGE, errorPage } from './page-layout.js';
import {
  SINCE_CHOICES,
  processorPage,
  type BulkFormState,
  type ProcessorPageInput,
} from './page-processors.js';
import { BulkRerunRequestSchema, type DryRunView, type JobAnswer, type OpsApi } from './views.js';

type Params = { Params: { id: string }; Querystring: { done?: string } };

const DONE: Record<string, string> = {
  paused: 'Paused. Every instance stops calling it within a few seconds.',
  resumed: 'Resumed. Every instance calls it again within a few seconds.',
  created: 'Bulk re-run started.',
  again: 'This bulk re-run was started before (the same confirmation): here it is.',
  cancelled: 'Cancelled: no more underwriting is requested.',
};

/** The bulk re-run form as posted. */
function bulkState(form: URLSearchParams): BulkFormState {
  const status = form.get('status') === 'timeout' ? 'timeout' : 'failed';
  const since = SINCE_CHOICES.find(([value]) => value === form.get('since'))?.[0] ?? '6h';
  const code = form.get('error_code') ?? '';
  return {
    status,
    since,
    error_code: (FAILURE_CODES as readonly string[]).includes(code) ? code : '',
    reason: (form.get('reason') ?? '').trim(),
  };
}

export function registerActionPages(page: FastifyInstance, api: OpsApi): void {
  page.get<Params>('/p/:id', (request, reply) =>
    showProcessor(api, request, reply, 200, {
      processorId: request.params.id,
      notice: DONE[first(request.query.done) ?? ''],
    }),
  );

  registerPauseForms(page, api);
  registerBulkForm(page, api);
  registerJobPages(page, api);
}

/** The processor's page, with what a form said (a notice, a problem, a count), answered `status`. */
async function showProcessor(
  api: OpsApi,
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  input: Omit<ProcessorPageInput, 'identity' | 'view'>,
) {
  const identity = request.opsIdentity;
  try {
    const view = await api.processors();
    return sendHtml(reply, status, processorPage({ identity, view, ...input }));
  } catch (err) {
    const failed = describe(request, err);
    return sendHtml(reply, failed.status, errorPage(identity, failed.status, failed.message));
  }
}

/** `POST /ops/p/{id}/pause` and `/resume`: 303 to the processor's page, saying what was done. */
function registerPauseForms(page: FastifyInstance, api: OpsApi): void {
  for (const action of ['pause', 'resume'] as const) {
    page.post<Params>(`/p/:id/${action}`, async (request, reply) => {
      const refused = formRefusal(request, reply, action);
      if (refused) return refused;
      const id = request.params.id;
      const reason = (formOf(request).get('reason') ?? '').trim();
      if (action === 'pause' && (reason === '' || reason.length > 500)) {
        return showProcessor(api, request, reply, 400, {
          processorId: id,
          pauseProblem:
            'Give a reason for the pause (1 to 500 characters); it is recorded and shown in every entry.',
        });
      }
      try {
        if (action === 'pause') await api.pause(id, reason, request.opsIdentity);
        else await api.resume(id, reason === '' ? undefined : reason.slice(0, 500), request.opsIdentity);
        return reply.redirect(`${OPS_PAGE.processor(id)}?done=${action}d`, 303);
      } catch (err) {
        const { status, message } = describe(request, err);
        return showProcessor(api, request, reply, status, {
          processorId: id,
          pauseProblem: `Not ${action}d: ${message}`,
        });
      }
    });
  }
}

/**
 * `POST /ops/p/{id}/reruns`: "re-run failed since…", a dry run first (the count, and a key minted
 * for it), then the job, confirmed with that key so that a second click finds the same job.
 */
function registerBulkForm(page: FastifyInstance, api: OpsApi): void {
  page.post<Params>('/p/:id/reruns', async (request, reply) => {
    const refused = formRefusal(request, reply, 're-run');
    if (refused) return refused;
    const id = request.params.id;
    const form = formOf(request);
    const state = bulkState(form);
    const confirm = form.get('step') === 'confirm';
    const now = Date.now();
    const windowMs = SINCE_CHOICES.find(([value]) => value === state.since)?.[2] ?? 0;
    const parsed = BulkRerunRequestSchema.safeParse({
      processors: [id],
      status: state.status,
      since: confirm ? form.get('since_at') : new Date(now - windowMs).toISOString(),
      until: confirm ? form.get('until_at') : new Date(now).toISOString(),
      ...(state.error_code && { error_code: state.error_code }),
      reason: state.reason,
      dry_run: !confirm,
    });
    if (!parsed.success) {
      const problem =
        state.reason === ''
          ? 'Give a reason for the re-run (1 to 500 characters); it is recorded with every re-run.'
          : 'The re-run form cannot be read; count again.';
      return showProcessor(api, request, reply, 400, { processorId: id, bulk: { ...state, problem } });
    }
    try {
      if (!confirm) {
        const dry = (await api.bulkRerun(parsed.data, request.opsIdentity, undefined)) as DryRunView;
        return showProcessor(api, request, reply, 200, {
          processorId: id,
          bulk: { ...state, preview: { dry, key: ulid() } },
        });
      }
      const key = first(form.get('key') ?? undefined);
      const { job, created } = (await api.bulkRerun(parsed.data, request.opsIdentity, key)) as JobAnswer;
      return reply.redirect(`${OPS_PAGE.job(job.id)}?done=${created ? 'created' : 'again'}`, 303);
    } catch (err) {
      const { status, message } = describe(request, err);
      return showProcessor(api, request, reply, status, {
        processorId: id,
        bulk: { ...state, problem: `Not re-run: ${message}` },
      });
    }
  });
}

/** A job's page and its cancel form. */
function registerJobPages(page: FastifyInstance, api: OpsApi): void {
  page.get<Params>('/jobs/:id', async (request, reply) => {
    const identity = request.opsIdentity;
    try {
      const answer = await api.job(request.params.id);
      return sendHtml(
        reply,
        200,
        jobPage({ identity, answer, notice: DONE[first(request.query.done) ?? ''] }),
      );
    } catch (err) {
      const { status, message } = describe(request, err);
      return sendHtml(reply, status, errorPage(identity, status, message));
    }
  });

  page.post<Params>('/jobs/:id/cancel', async (request, reply) => {
    const refused = formRefusal(request, reply, 'cancel');
    if (refused) return refused;
    const identity = request.opsIdentity;
    const id = request.params.id;
    const reason = (formOf(request).get('reason') ?? '').trim().slice(0, 500);
    try {
      await api.cancelJob(id, reason === '' ? undefined : reason, identity);
      return reply.redirect(`${OPS_PAGE.job(id)}?done=cancelled`, 303);
    } catch (err) {
      const { status, message } = describe(request, err);
      try {
        const answer = await api.job(id);
        return sendHtml(reply, status, jobPage({ identity, answer, problem: `Not cancelled: ${message}` }));
      } catch {
        return sendHtml(reply, status, errorPage(identity, status, message));
      }
    }
  });
}
