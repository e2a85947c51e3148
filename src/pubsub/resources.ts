import type { CreateSubscriptionOptions, PubSub, Subscription, Topic } from '@google-cloud/pubsub';

import { GRPC, grpcCode } from '../transport/pubsub.js';

/** The topic, created if it does not exist. */
export async function ensureTopic(pubsub: PubSub, name: string): Promise<Topic> {
  const topic = pubsub.topic(name);
  try {
    await pubsub.createTopic(name);
  } catch (err) {
    if (grpcCode(err) !== GRPC.ALREADY_EXISTS) throw err;
  }
  return topic;
}

/**
 * The subscription to `topic`, created with `options` if it does not exist; an existing push
 * subscription is pointed at `options.pushConfig` (its endpoint may have changed since).
 */
export async function ensureSubscription(
  pubsub: PubSub,
  topic: string,
  name: string,
  options: CreateSubscriptionOptions = {},
): Promise<Subscription> {
  const subscription = pubsub.subscription(name);
  try {
    await pubsub.topic(topic).createSubscription(name, options);
  } catch (err) {
    if (grpcCode(err) !== GRPC.ALREADY_EXISTS) throw err;
    if (options.pushConfig) await subscription.modifyPushConfig(options.pushConfig);
  }
  return subscription;
}

/** Deletes the subscription if it exists. */
export async function deleteSubscription(pubsub: PubSub, name: string): Promise<void> {
  try {
    await pubsub.subscription(name).delete();
  } catch (err) {
    if (grpcCode(err) !== GRPC.NOT_FOUND) throw err;
  }
}
