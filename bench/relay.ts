// The floor any Pub/Sub worker pays: receive a message, publish one reply, ack. Run as its own
// process by the Pub/Sub bench, configured like `serve` (same variables): with `serve`'s own pull
// transport and publish settings, or with the client library's streaming pull and defaults when
// given `--library-defaults`.
import type { Message } from '@google-cloud/pubsub';

import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logging.js';
import { PUBLISH_OPTIONS } from '../src/transport/publisher.js';
import { createPubSub } from '../src/transport/pubsub-client.js';
import { startPull } from '../src/transport/pull.js';

const config = loadConfig();
const { underwritingSubscription, completedTopic, pullMaxMessages } = config.pubsub;
if (!underwritingSubscription) throw new Error('relay: UNDERWRITING_SUBSCRIPTION is not set');
const pubsub = createPubSub(config.pubsub);

if (process.argv.includes('--library-defaults')) {
  const topic = pubsub.topic(completedTopic);
  const subscription = pubsub.subscription(underwritingSubscription);
  subscription.on('message', (message: Message) => {
    topic.publishMessage({ data: message.data, attributes: { source_message_id: message.id } }).then(
      () => message.ack(),
      () => message.nack(),
    );
  });
  subscription.on('error', (err: unknown) => console.error('relay:', err));
  process.on('SIGTERM', () => void subscription.close().then(() => pubsub.close()));
} else {
  const topic = pubsub.topic(completedTopic, PUBLISH_OPTIONS);
  const log = createLogger('warn');
  const pull = startPull({
    pubsub,
    subscription: underwritingSubscription,
    handler: {
      handle: (message) => {
        return topic
          .publishMessage({ data: message.data, attributes: { source_message_id: message.id } })
          .then(
            () => 'ack',
            () => 'nack',
          );
      },
      inFlight: () => 0,
      drain: () => Promise.resolve(0),
    },
    // Nothing to process, so nothing bounds it but the ceiling, if one is set.
    admission: {
      room: () => Infinity,
      intake: () => 0,
      take: () => ({ started: () => {}, release: () => {} }),
      changed: () => new Promise(() => {}),
    },
    maxMessages: pullMaxMessages,
    closeTimeoutMs: 1_000,
    onFatal: (err) => console.error('relay:', err.message),
    log,
  });
  process.on('SIGTERM', () => void pull.close().then(() => pubsub.close()));
}
