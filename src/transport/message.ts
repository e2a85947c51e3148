import type { Context } from '@opentelemetry/api';

import type { Ticket } from '../admission/admission.js';

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
  /**
   * The admission ticket the transport took for it: the orchestrator says what the event holds
   * once its runs are asked for; the transport releases it with the verdict.
   */
  ticket?: Pick<Ticket, 'started'> | undefined;
}

/**
 * What the transport does with a message once it is handled: `ack` (pull: `ack()`; push: 2xx)
 * when its result was published or it was poison and dead-lettered; `nack` (pull: `nack()`;
 * push: 503) when a retry can fix what went wrong.
 */
export type Verdict = 'ack' | 'nack';
