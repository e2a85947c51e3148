import {
  Duration,
  SubscriptionCloseBehaviors,
  type Message,
  type PubSub,
  type SubscriberOptions,
} from '@google-cloud/pubsub';

import { ROOT_CONTEXT, trace } from '@opentelemetry/api';

import { OrchestratorError, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { contextFromAttributes } from '../telemetry/trace-context.js';
import type { MessageHandler } from './handler.js';

export interface PullOptions {
  pubsub: PubSub;
  subscription: string;
  handler: MessageHandler;
  /** Most messages held at once (`allowExcessMessages: false`). */
  maxMessages: number;
  /**
   * How long `close` may take: the client goes on leasing, acking and nacking what is in flight
   * until then, and nacks what is left in its last second.
   */
  closeTimeoutMs: number;
  /** The subscription failed for good (deleted, no permission): the service must stop. */
  onFatal(err: OrchestratorError): void;
  log: Logger;
}

export interface PullSubscriber {
  /** Whether the streaming pull is open (readiness). */
  isOpen(): boolean;
  /** Stops the stream at once, then waits for what is in flight (see `closeTimeoutMs`). */
  close(): Promise<void>;
}

/**
 * One stream, and flow control that holds no more than `maxMessages` (several streams would each
 * be granted `maxMessages` by the server). Closing waits for what is in flight, up to
 * `closeTimeoutMs`, leasing it meanwhile; the client nacks what is left in its last second.
 */
export function subscriberOptions(maxMessages: number, closeTimeoutMs: number): SubscriberOptions {
  return {
    flowControl: { maxMessages, allowExcessMessages: false },
    streamingOptions: { maxStreams: 1 },
    // A message's flow-control slot frees only once its ack is sent: send acks promptly.
    batching: { maxMilliseconds: 1 },
    closeOptions: {
      behavior: SubscriptionCloseBehaviors.WaitForProcessing,
      timeout: Duration.from({ milliseconds: closeTimeoutMs }),
    },
  };
}

/**
 * Streaming pull into the shared handler: every message is acked or nacked by the handler's
 * verdict, never before.
 */
export function startPull(options: PullOptions): PullSubscriber {
  const { pubsub, handler, log } = options;
  let closing = false;
  const subscription = pubsub.subscription(
    options.subscription,
    subscriberOptions(options.maxMessages, options.closeTimeoutMs),
  );

  subscription.on('message', (message: Message) => {
    void handler
      .handle({
        id: message.id,
        data: message.data,
        attributes: message.attributes,
        receivedAt: performance.now(),
        // 0 when the subscription has no dead-letter policy.
        deliveryAttempt: message.deliveryAttempt || undefined,
        transport: 'pull',
        // The client's receive span when its tracing is on (it does not make it active).
        trace: message.parentSpan
          ? trace.setSpan(ROOT_CONTEXT, message.parentSpan)
          : contextFromAttributes(message.attributes),
      })
      .then((verdict) => (verdict === 'ack' ? message.ack() : message.nack()));
  });
  let lastError: unknown;
  subscription.on('error', (err: unknown) => {
    // Retryable stream errors are retried inside the client; what reaches here is logged.
    lastError = err;
    if (!closing) log.warn({ err, subscription: subscription.name }, 'pull subscription error');
  });
  subscription.on('close', () => {
    // The client closes the subscription itself only when it gave up on it (it was deleted,
    // permission was revoked): this instance can do no more work, so it stops.
    if (closing) return;
    const reason = lastError === undefined ? 'the stream closed' : messageOf(lastError);
    options.onFatal(
      new OrchestratorError('PULL_FAILED', `pulling from ${subscription.name}: ${reason}`, {
        cause: lastError,
      }),
    );
  });

  return {
    isOpen: () => subscription.isOpen,
    close: async () => {
      closing = true;
      await subscription.close();
    },
  };
}
