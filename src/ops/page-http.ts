// What every page route shares: how a failure of the API reads, how HTML is sent, query values,
// and the checks in front of every form post.
import type { FastifyReply, FastifyRequest } from 'fastify';

import { httpStatusOf, messageOf } from '../errors.js';
import { actRefusal } from './access.js';
import { errorPage } from './page-layout.js';
import type { OpsIdentity } from './views.js';

/** The HTTP status an `OpsApi` failure answers with, as the JSON routes do. */
export function statusOf(err: unknown): number {
  const { statusCode, code } = (err ?? {}) as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600) return statusCode;
  return typeof code === 'string' ? httpStatusOf(code) : 500;
}

/** What an operator may read about a failure: its message, unless it is an internal error. */
export function describe(request: FastifyRequest, err: unknown): { status: number; message: string } {
  const status = statusOf(err);
  if (status === 500) {
    request.log.error({ err, url: request.url }, 'ops page failed');
    return { status, message: 'Internal error; the service log has the details.' };
  }
  return { status, message: messageOf(err) };
}

export function sendHtml(reply: FastifyReply, status: number, body: string) {
  return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

export function first(value: unknown): string | undefined {
  const one = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof one === 'string' && one.trim() !== '' ? one.trim() : undefined;
}

/**
 * Refuses a form post (403, with a page saying why) that access.ts refuses: from another site, or
 * from a reader; `undefined` when it may go on. `what` says what the form does ("pause", "re-run").
 */
export function formRefusal(request: FastifyRequest, reply: FastifyReply, what: string) {
  const identity = request.opsIdentity;
  const refusal = actRefusal(identity, request.headers, 'form', what);
  if (!refusal) return undefined;
  if (refusal.check === 'same-origin') {
    request.log.warn(
      { url: request.url, reason: refusal.reason, by: identity.email },
      `ops ${what} form refused`,
    );
    return sendHtml(reply, 403, errorPage(identity, 403, `Refused: ${refusal.reason}.`));
  }
  return sendHtml(reply, 403, errorPage(identity, 403, `${refusal.reason}.`));
}

/** A posted form's fields (empty when it sent none). */
export function formOf(request: FastifyRequest): URLSearchParams {
  return request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
}

export type { OpsIdentity };
