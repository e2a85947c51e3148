import type { Topic } from '@google-cloud/pubsub';

import { OrchestratorError, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import type { InboundMessage } from './message.js';
import { PUBLISH_OPTIONS } from './publisher.js';
import { once, type PubSubClient } from './pubsub.js';

// Pub/Sub refuses attribute values over 1024 bytes.
const MAX_ATTRIBUTE_BYTES = 1024;

/**
 * Forwards a poison message (retrying cannot help) so that it is never lost and never retried:
 * its original data and attributes, plus `error_reason` and `source_message_id`, to the
 * dead-letter topic. Without one, the whole message is logged at ERROR. Resolves when the
 * message can be acked; rejects with DEAD_LETTER_FAILED (retryable) when it could not be kept.
 */
export type DeadLetter = (message: InboundMessage, reason: string) => Promise<void>;

export function createDeadLetter(
  pubsub: PubSubClient,
  topicName: string | undefined,
  log: Logger,
): DeadLetter {
  const deadLetterTopic = topicName
    ? once(async () => (await pubsub()).topic(topicName, PUBLISH_OPTIONS))
    : undefined;

  return async (message, reason) => {
    const errorReason = truncateUtf8(reason, MAX_ATTRIBUTE_BYTES);
    if (!deadLetterTopic) {
      log.error(
        {
          source_message_id: message.id,
          error_reason: errorReason,
          attributes: message.attributes,
          data_base64: message.data.toString('base64'),
        },
        'poison message dropped: no DEAD_LETTER_TOPIC is set, so it is kept only in this log line',
      );
      return;
    }
    const attributes: Record<string, string> = {
      ...message.attributes,
      error_reason: errorReason,
      source_message_id: message.id,
    };
    let topic: Topic | undefined;
    try {
      topic = await deadLetterTopic();
      await topic.publishMessage({ data: message.data, attributes });
    } catch (err) {
      throw new OrchestratorError(
        'DEAD_LETTER_FAILED',
        `forwarding poison message to ${topic?.name ?? topicName}: ${messageOf(err)}`,
        { cause: err },
      );
    }
    // INFO: handled as designed and kept on the topic (whose metric has its own alert policy);
    // WARNING is for what could not be done or is retried.
    log.info(
      { source_message_id: message.id, error_reason: errorReason, dead_letter_topic: topic.name },
      'poison message dead-lettered',
    );
  };
}

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary, marked with "...". */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary: a partial UTF-8 sequence decodes to U+FFFD, which is dropped.
  return `${bytes
    .subarray(0, maxBytes - 3)
    .toString('utf8')
    .replace(/\uFFFD+$/, '')}...`;
}
