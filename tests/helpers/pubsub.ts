import { randomBytes } from 'node:crypto';

import type { PubSub, CreateSubscriptionOptions, Message, Subscription, Topic } from '@google-cloud/pubsub';

import { createPubSub } from '../../src/transport/pubsub-client.js';

export const TEST_PROJECT_ID = 'test-project';

/** A client for project `test-project` on the emulator at `host`: the service's own factory. */
export function emulatorPubSub(host: string): PubSub {
  return createPubSub({ projectId: TEST_PROJECT_ID, emulatorHost: host });
}

let counter = 0;

/** A Pub/Sub name (letters, digits, dashes; starts with a letter) unique to this call. */
export function uniqueName(prefix: string): string {
  const cleaned = prefix.replace(/[^A-Za-z0-9-]+/g, '-');
  const start = /^[A-Za-z]/.test(cleaned) ? cleaned : `t-${cleaned}`;
  counter += 1;
  return `${start}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** Creates a topic and one subscription to it. */
export async function createTopicWithSubscription(
  pubsub: PubSub,
  topicName: string,
  subscriptionName: string,
  options?: CreateSubscriptionOptions,
): Promise<{ topic: Topic; subscription: Subscription }> {
  const [topic] = await pubsub.createTopic(topicName);
  const [subscription] = await topic.createSubscription(subscriptionName, options);
  return { topic, subscription };
}

export interface ReceivedMessage {
  id: string;
  data: string;
  attributes: Record<string, string>;
}

/** Messages received so far on a streaming pull, each acked on arrival. */
export interface Collector {
  /** Everything received so far, in arrival order. */
  readonly messages: readonly ReceivedMessage[];
  /**
   * Resolves with the first `count` messages once that many arrived. Rejects after `timeoutMs`
   * with a message listing what did arrive, or as soon as the subscription reports an error.
   */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Stops the streaming pull. */
  close(): Promise<void>;
}

/** Opens a streaming pull on `subscription` that acks and records every message. */
export function collectMessages(subscription: Subscription): Collector {
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<() => void>();
  let failure: Error | undefined;
  const wake = () => waiters.forEach((waiter) => waiter());

  subscription.on('message', (message: Message) => {
    message.ack();
    messages.push({
      id: message.id,
      data: message.data.toString('utf8'),
      attributes: { ...message.attributes },
    });
    wake();
  });
  subscription.on('error', (error: Error) => {
    failure ??= error;
    wake();
  });

  return {
    messages,
    waitFor(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length >= count) finish(() => resolve(messages.slice(0, count)));
          else if (failure) {
            const error = failure;
            finish(() => reject(error));
          }
        };
        const timer = setTimeout(() => {
          const got = messages.length === 0 ? 'nothing' : JSON.stringify(messages);
          finish(() =>
            reject(
              new Error(
                `expected ${count} message(s) on ${subscription.name} within ${timeoutMs} ms; ` +
                  `got ${messages.length}: ${got}`,
              ),
            ),
          );
        }, timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      await subscription.close();
      subscription.removeAllListeners();
    },
  };
}

/** Receives `count` messages from `subscription` (acking each), then stops pulling. */
export async function collect(
  subscription: Subscription,
  { count, timeoutMs }: { count: number; timeoutMs?: number },
): Promise<ReceivedMessage[]> {
  const collector = collectMessages(subscription);
  try {
    return await collector.waitFor(count, timeoutMs);
  } finally {
    await collector.close();
  }
}
