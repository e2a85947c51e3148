import type { Context } from '@opentelemetry/api';

/** A message as a transport received it, before anything is known about its data. */
export interface InboundMessage {
  /** Pub/Sub message id: `source_message_id` of what is published for it. */
  id: string;
  data: Buffer;
  attributes: Readonly<Record<string, string>>;
  /** `performance.now()` when the transport received it. */
  receivedAt: number;
  /** How many times Pub/Sub has delivered it, when the subscription has a dead-letter policy. */
  deliveryAttempt?: number | undefined;
  /** The path it came by, for log lines. */
  transport: 'pull' | 'push';
  /**
   * The trace context the publisher sent (`googclient_traceparent`): the message is handled in
   * that trace.
   */
  trace?: Context | undefined;
  /** Called once the pool has been asked for every run of the event (pull's admission). */
  runsAsked?: () => void;
  /**
   * Called once the event needs no more from this instance than its publish and ack (its runs
   * are over): pull then counts it out of the work it holds.
   */
  processed?: () => void;
}

/**
 * What the transport does with a message once it is handled: `ack` (pull: `ack()`; push: 2xx)
 * when its result was published or it was poison and dead-lettered; `nack` (pull: `nack()`;
 * push: 503) when a retry can fix what went wrong.
 */
export type Verdict = 'ack' | 'nack';
