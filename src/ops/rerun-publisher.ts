import { OrchestratorError, messageOf } from '../errors.js';
import type { UnderwritingCreated } from '../events/underwriting-created.js';
import { once, type PubSubClient } from '../transport/pubsub.js';

/**
 * Publishes re-run requests to the input topic (`UNDERWRITING_TOPIC`): the request outlives the
 * instance that took it, and whichever instance receives it runs it through the normal pipeline
 * and ledger. A failure is PUBLISH_FAILED (the route answers 503; nothing was requested).
 */
export function createRerunPublisher(pubsub: PubSubClient, topicName: string) {
  const topic = once(async () => (await pubsub()).topic(topicName));
  return {
    async publish(event: UnderwritingCreated, attributes: Record<string, string>): Promise<string> {
      try {
        return await (await topic()).publishMessage({ data: Buffer.from(JSON.stringify(event)), attributes });
      } catch (err) {
        throw new OrchestratorError(
          'PUBLISH_FAILED',
          `publishing the re-run request to ${topicName}: ${messageOf(err)}`,
          {
            cause: err,
          },
        );
      }
    },
  };
}
