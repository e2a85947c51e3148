// The floor any Pub/Sub worker pays: receive a message, publish one reply, ack. Run as its own
// process by the Pub/Sub bench, configured like `serve` (same variables), with `serve`'s client
// settings, or with the client library's defaults when given `--library-defaults`.
import type { Message } from '@google-cloud/pubsub';

import { loadConfig } from '../src/config.js';
import { PUBLISH_OPTIONS } from '../src/transport/publisher.js';
import { createPubSub } from '../src/transport/pubsub.js';
import { subscriberOptions } from '../src/transport/pull.js';

const config = loadConfig();
const { underwritingSubscription, completedTopic, pullMaxMessages } = config.pubsub;
if (!underwritingSubscription) throw new Error('relay: UNDERWRITING_SUBSCRIPTION is not set');
const libraryDefaults = process.argv.includes('--library-defaults');
const pubsub = createPubSub(config.pubsub);
const topic = libraryDefaults ? pubsub.topic(completedTopic) : pubsub.topic(completedTopic, PUBLISH_OPTIONS);
const subscription = libraryDefaults
  ? pubsub.subscription(underwritingSubscription)
  : pubsub.subscription(underwritingSubscription, subscriberOptions(pullMaxMessages, 1_000));

subscription.on('message', (message: Message) => {
  topic.publishMessage({ data: message.data, attributes: { source_message_id: message.id } }).then(
    () => message.ack(),
    () => message.nack(),
  );
});
subscription.on('error', (err: unknown) => console.error('relay:', err));
process.on('SIGTERM', () => {
  void subscription.close().then(() => pubsub.close());
});
