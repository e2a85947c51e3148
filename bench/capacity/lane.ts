// Fresh Pub/Sub resources for one case of the capacity bench: an input topic and subscription
// (pull cases), an output topic whose replies the bench reads, all deleted afterwards.
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';

export interface Reply {
  /** performance.now() when the bench received it. */
  at: number;
  completed: number;
  total: number;
  /** The event's own total_execution_time, in seconds. */
  executionS: number;
}

export interface Replies {
  /** The first reply of each underwriting id. */
  readonly byId: ReadonlyMap<string, Reply>;
  /** Replies beyond the first for an id: events published twice. */
  duplicates(): number;
  /** True once `count` distinct underwritings have replied; false if `timeoutMs` passes first. */
  until(count: number, timeoutMs: number): Promise<boolean>;
}

export interface Lane {
  /** The subscription a pulling contender reads (UNDERWRITING_SUBSCRIPTION). */
  inSubscription: string;
  /** The topic a contender publishes to (COMPLETED_TOPIC). */
  outTopic: string;
  replies: Replies;
  /** Publishes the events (batched, as a burst) and resolves once all are accepted. */
  publish(events: readonly Buffer[]): Promise<void>;
  /** Publishes one event within 5 ms, resolving with its message id. */
  publishOne(event: Buffer): Promise<string>;
  delete(): Promise<void>;
}

interface ReplyData {
  underwriting_id?: string;
  summary?: { completed_count?: number; total_processors?: number; total_execution_time?: number };
}

function parseReply(data: Buffer): ReplyData {
  try {
    return JSON.parse(data.toString('utf8')) as ReplyData;
  } catch {
    // Counted by its attributes, with nothing completed.
    return {};
  }
}

function collect(subscription: Subscription): Replies {
  const byId = new Map<string, Reply>();
  let duplicates = 0;
  const waiters = new Set<{ count: number; wake: () => void }>();
  subscription.on('message', (message: Message) => {
    const at = performance.now();
    message.ack();
    const data = parseReply(message.data);
    const id = data.underwriting_id ?? message.attributes['underwriting_id'] ?? '';
    if (byId.has(id)) {
      duplicates++;
      return;
    }
    byId.set(id, {
      at,
      completed: data.summary?.completed_count ?? 0,
      total: data.summary?.total_processors ?? 0,
      executionS: data.summary?.total_execution_time ?? Number.NaN,
    });
    for (const waiter of waiters) if (byId.size >= waiter.count) waiter.wake();
  });
  subscription.on('error', (err: unknown) => console.error('bench: reply subscription:', err));
  return {
    byId,
    duplicates: () => duplicates,
    until(count, timeoutMs) {
      if (byId.size >= count) return Promise.resolve(true);
      return new Promise((resolve) => {
        const waiter = {
          count,
          wake: () => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(true);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          resolve(false);
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}

let lanes = 0;

export async function openLane(pubsub: PubSub, label: string): Promise<Lane> {
  const name = `bench-capacity-${label}-${process.pid}-${++lanes}`;
  const [inTopic] = await pubsub.createTopic(`${name}-in`);
  const [inSubscription] = await inTopic.createSubscription(`${name}-in-sub`, { ackDeadlineSeconds: 60 });
  const [outTopic] = await pubsub.createTopic(`${name}-out`);
  const [outSubscription] = await outTopic.createSubscription(`${name}-out-sub`, { ackDeadlineSeconds: 60 });
  const replies = collect(outSubscription);
  const burstTopic = pubsub.topic(inTopic.name, { batching: { maxMessages: 1_000, maxMilliseconds: 5 } });
  // Paced events go out within 5 ms: nothing next to seconds of processing, and the RPCs of a
  // high rate are batched as the backlog's are (the rate the CPU allows is measured on those).
  const pacedTopic = pubsub.topic(inTopic.name, { batching: { maxMessages: 100, maxMilliseconds: 5 } });
  return {
    inSubscription: `${name}-in-sub`,
    outTopic: `${name}-out`,
    replies,
    publish: async (events) => {
      await Promise.all(events.map((data) => burstTopic.publishMessage({ data })));
    },
    publishOne: (data) => pacedTopic.publishMessage({ data }),
    async delete() {
      await outSubscription.close();
      await Promise.all([inSubscription.delete(), outSubscription.delete()]);
      await Promise.all([inTopic.delete(), outTopic.delete()]);
    },
  };
}
