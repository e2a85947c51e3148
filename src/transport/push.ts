import type { onRequestAsyncHookHandler, RouteHandlerMethod } from 'fastify';

import { isRefusal, type Admission } from '../admission/admission.js';
import { formatIssues } from '../errors.js';
import type { Logger } from '../logging.js';
import { contextFromAttributes } from '../telemetry/trace-context.js';
import type { MessageHandler } from './handler.js';
import type { HttpServer } from './http.js';
import type { PushAuth } from './push-auth.js';
import { PushEnvelopeSchema } from './push-envelope.js';

/** Where Pub/Sub pushes. */
export const PUSH_PATH = '/pubsub/push';

/**
 * The largest push body Pub/Sub can send: a 10 MB message (data and attributes) whose data
 * arrives base64-encoded (4/3 larger), plus room for the attributes' JSON escaping and the
 * envelope's own fields. Anything larger did not come from Pub/Sub: 413.
 */
export const PUSH_BODY_LIMIT_BYTES = Math.ceil((10 * 1024 * 1024) / 3) * 4 + 1024 * 1024;

/** What a push goes through once the service has started. */
export interface PushPipeline {
  handler: MessageHandler;
  admission: Pick<Admission, 'tryTake'>;
}

export interface PushDeps {
  auth: PushAuth;
  /**
   * The shared pipeline, once the service has started (a push that arrives earlier waits for
   * it); `undefined` when start-up failed.
   */
  pipeline: Promise<PushPipeline | undefined>;
  log: Logger;
}

/**
 * `POST /pubsub/push`: the token is checked before the body is read (401, 403, or 503 when it
 * cannot be checked); a body that is not a push envelope is 400, one larger than any Pub/Sub
 * message 413. A valid envelope is offered to admission: an instance that is full answers 429 at
 * once (Pub/Sub redelivers it later, and slows its pushes), so nothing queues past what can start
 * soon. A taken envelope goes through the same handler as pulled messages, and its verdict is the
 * status: 204 (ack: published, or poison dead-lettered) or 503 (retry).
 */
export function registerPushRoute(app: HttpServer, deps: PushDeps): void {
  const { auth, log } = deps;

  const authenticate: onRequestAsyncHookHandler = async (request, reply) => {
    const verdict = await auth.check(request.headers.authorization);
    if (verdict.ok) return;
    log.warn({ status: verdict.status, reason: verdict.reason }, 'push refused');
    if (verdict.status === 401) reply.header('www-authenticate', 'Bearer error="invalid_token"');
    await reply.code(verdict.status).send({ error: REFUSALS[verdict.status] });
  };

  const handlePush: RouteHandlerMethod = async (request, reply) => {
    const receivedAt = performance.now();
    const parsed = PushEnvelopeSchema.safeParse(request.body);
    if (!parsed.success) {
      const reason = formatIssues(parsed.error.issues, 'body');
      log.warn({ reason }, 'push refused: not a Pub/Sub push envelope');
      return reply.code(400).send({ error: `not a Pub/Sub push envelope: ${reason}` });
    }
    const pipeline = await deps.pipeline;
    if (pipeline === undefined) return reply.code(503).send({ error: 'the service did not start' });
    const taken = pipeline.admission.tryTake();
    if (isRefusal(taken)) {
      return reply
        .code(429)
        .header('retry-after', String(taken.retryAfterSeconds))
        .send({ error: `instance full (${taken.refused}); Pub/Sub will deliver it again` });
    }
    const { message, deliveryAttempt } = parsed.data;
    const attributes = message.attributes ?? {};
    try {
      const verdict = await pipeline.handler.handle({
        id: message.messageId,
        data: Buffer.from(message.data ?? '', 'base64'),
        attributes,
        receivedAt,
        deliveryAttempt,
        transport: 'push',
        trace: contextFromAttributes(attributes),
        ticket: taken,
      });
      return await reply.code(verdict === 'ack' ? 204 : 503).send();
    } finally {
      taken.release();
    }
  };

  app.register((scope, _options, done) => {
    // Pub/Sub pushes JSON: anything else is 415, not a string to parse.
    scope.removeContentTypeParser('text/plain');
    scope.post(PUSH_PATH, { bodyLimit: PUSH_BODY_LIMIT_BYTES, onRequest: authenticate }, handlePush);
    done();
  });
}

const REFUSALS = { 401: 'unauthorized', 403: 'forbidden', 503: 'cannot verify push tokens now' } as const;
