import { PUSH_PATH } from '../../src/transport/push.js';
import { TEST_PROJECT_ID } from './pubsub.js';

/** A push body as Pub/Sub sends it (both spellings of the id and time, as Pub/Sub does). */
export function pushEnvelope(
  data: string | Buffer,
  options: { messageId: string; attributes?: Record<string, string>; deliveryAttempt?: number },
) {
  const publishTime = new Date().toISOString();
  return {
    message: {
      data: Buffer.from(data).toString('base64'),
      attributes: options.attributes ?? {},
      messageId: options.messageId,
      message_id: options.messageId,
      publishTime,
      publish_time: publishTime,
    },
    subscription: `projects/${TEST_PROJECT_ID}/subscriptions/orchestrator-push`,
    ...(options.deliveryAttempt !== undefined && { deliveryAttempt: options.deliveryAttempt }),
  };
}

/** POSTs `body` (JSON, or a string as it is) to the push route of the server at `base`. */
export function postPush(base: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}${PUSH_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
