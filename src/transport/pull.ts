import { v1, type protos, type PubSub } from '@google-cloud/pubsub';

import type { Admission } from '../admission/admission.js';
import { OrchestratorError, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { contextFromAttributes } from '../telemetry/trace-context.js';
import type { MessageHandler } from './handler.js';
import type { InboundMessage } from './message.js';
import { afterPullFailure } from './pull-failure.js';
import { holdMessages } from './pull-held.js';
import { afterPull, askFor, PULL_WINDOW, whileFull } from './pull-window.js';

export interface PullOptions {
  pubsub: PubSub;
  subscription: string;
  handler: MessageHandler;
  /** How many events the instance may take now; each pulled message takes a ticket. */
  admission: Pick<Admission, 'room' | 'intake' | 'take' | 'changed'>;
  /** Optional ceiling on pulled events in progress (`PULL_MAX_MESSAGES`); unset, admission alone decides. */
  maxMessages?: number | undefined;
  /** How long `close` waits for the verdicts of what is held, leasing it meanwhile. */
  closeTimeoutMs: number;
  /** The subscription failed for good (deleted, no permission): the service must stop. */
  onFatal(err: OrchestratorError): void;
  log: Logger;
}

export interface PullSubscriber {
  /** Whether pulling works (readiness): false from a failed pull until one succeeds. */
  isOpen(): boolean;
  /** Stops pulling at once, then waits for what is held (see `closeTimeoutMs`) and nacks the rest. */
  close(): Promise<void>;
}

export const PULL = {
  /** While there is no room, the longest wait before the room is looked at again. */
  roomEveryMs: 100,
} as const;

/**
 * Pull by asking: each pull asks Pub/Sub for as many messages as the instance can start now, so
 * an instance holds only what it can start soon, and slow processors leave the rest of the
 * backlog to other instances. (A streaming pull is granted a fixed flow-control window when it
 * opens, held until each ack is sent.) Every message is acked or nacked by the handler's
 * verdict, never before; held messages are leased until then.
 */
export function startPull(options: PullOptions): PullSubscriber {
  const { pubsub, handler, admission, log } = options;
  const client = new v1.SubscriberClient(
    pubsub.options as ConstructorParameters<typeof v1.SubscriberClient>[0],
  );
  // Its full name; the project is the client's own (from the credentials) when the configuration
  // names none, known once the loop has started (see `pullLoop`).
  let subscription = pubsub.subscription(options.subscription).name;
  const held = holdMessages(client, () => subscription, log);
  let closing = false;
  /** Aborted at close: ends the loop's waits at once. */
  const stopping = new AbortController();
  const wait = (ms: number, wake?: Promise<void>) => pause(ms, stopping.signal, wake);
  let healthy = true;
  let inFlight: CancellablePull | undefined;

  function receive({ ackId, message, deliveryAttempt }: protos.google.pubsub.v1.IReceivedMessage): void {
    if (!ackId || !message) return;
    if (closing) return held.nack(ackId);
    held.hold(ackId);
    // Asked for, so taken: admission counts it from now until its verdict.
    const ticket = admission.take();
    void handler.handle(inbound(message, deliveryAttempt ?? 0, ticket)).then((verdict) => {
      ticket.release();
      held.settle(ackId, verdict);
    });
  }

  /** The failure of a pull: fatal (the service must stop), or a wait before the next. */
  async function failed(err: unknown, failures: number): Promise<'stop' | 'retry'> {
    healthy = false;
    const next = afterPullFailure(err, failures);
    if ('fatal' in next) {
      options.onFatal(
        new OrchestratorError('PULL_FAILED', `pulling from ${subscription}: ${next.fatal}`, { cause: err }),
      );
      return 'stop';
    }
    log.warn(
      { err, subscription: options.subscription, retry_in_ms: next.retryInMs },
      'pull failed; retrying',
    );
    await wait(next.retryInMs);
    return 'retry';
  }

  async function pullLoop(): Promise<void> {
    await client.initialize();
    if (subscription.includes('{{projectId}}'))
      subscription = subscription.replace('{{projectId}}', await client.getProjectId());
    let failures = 0;
    let window: number = PULL_WINDOW.first;
    while (!closing) {
      // What was pulled last is in the pool, holding what it holds, before the room is judged.
      if (admission.intake() > 0) {
        await wait(PULL.roomEveryMs, admission.changed());
        continue;
      }
      const room = Math.min(admission.room(), (options.maxMessages ?? Infinity) - held.size);
      if (room <= 0) {
        window = whileFull(window);
        await wait(PULL.roomEveryMs, admission.changed());
        continue;
      }
      const wanted = askFor(window, room);
      try {
        inFlight = pull(client, subscription, wanted);
        const messages = (await inFlight)[0].receivedMessages ?? [];
        healthy = true;
        failures = 0;
        window = afterPull(window, wanted, messages.length);
        for (const received of messages) receive(received);
      } catch (err) {
        if (closing || (await failed(err, failures++)) === 'stop') return;
      }
    }
  }

  const pulling = pullLoop().catch((err: unknown) => {
    healthy = false;
    options.onFatal(
      new OrchestratorError('PULL_FAILED', `pulling from ${subscription}: ${messageOf(err)}`, { cause: err }),
    );
  });

  return {
    isOpen: () => healthy && !closing,
    close: async () => {
      closing = true;
      stopping.abort();
      // Ends a pull still waiting for messages; what it would have brought stays in Pub/Sub.
      inFlight?.cancel();
      await pulling;
      await held.close(options.closeTimeoutMs);
      await client.close();
    },
  };
}

type CancellablePull = Promise<[protos.google.pubsub.v1.IPullResponse]> & { cancel(): void };

/**
 * One pull, as the client's public `pull` makes it (same request, same routing header, same
 * retry and 60 s timeout from the client's config), but cancellable: at close, a pull waiting
 * for messages must not hold the process up to its timeout. That is why this calls the client's
 * private `innerApiCalls['pull']`, the gax call that public `v1.SubscriberClient.pull` wraps:
 * - `v1.SubscriberClient.pull` (5.x) chains `.then(log).catch(decode)` onto that call, so what it
 *   returns is a plain promise without gax's `cancel()`. An empty pull on the emulator waits
 *   58 s before it answers, so `close` (and SIGTERM) would wait as long; closing the client does
 *   not end a call in flight. A short call `timeout` instead would end every idle pull with an
 *   error and a new request; `returnImmediately` is deprecated and makes the loop poll.
 * - The streaming pull (`subscription.on('message')`) is granted its flow-control window when
 *   the stream opens and leases messages on its own, so it cannot ask for exactly the room
 *   admission has now (see `startPull`).
 * Every pull goes through here: if an upgrade drops or reshapes it, nothing is pulled and the
 * pull tests (tests/integration/serve.test.ts) fail.
 */
function pull(client: v1.SubscriberClient, sub: string, maxMessages: number): CancellablePull {
  const call = client.innerApiCalls['pull'] as (request: unknown, options: unknown) => CancellablePull;
  return call(
    { subscription: sub, maxMessages },
    { otherArgs: { headers: { 'x-goog-request-params': `subscription=${encodeURIComponent(sub)}` } } },
  );
}

/** A pulled message as the handler takes it. */
function inbound(
  message: protos.google.pubsub.v1.IPubsubMessage,
  deliveryAttempt: number,
  ticket: InboundMessage['ticket'],
): InboundMessage {
  const attributes = message.attributes ?? {};
  const data = message.data ?? Buffer.alloc(0);
  return {
    id: message.messageId ?? '',
    data: Buffer.isBuffer(data) ? data : Buffer.from(data),
    attributes,
    receivedAt: performance.now(),
    // 0 when the subscription has no dead-letter policy.
    deliveryAttempt: deliveryAttempt || undefined,
    transport: 'pull',
    trace: contextFromAttributes(attributes),
    ticket,
  };
}

/**
 * Resolves after `ms`, once `wake` settles, or once `stop` aborts, whichever comes first, and
 * leaves no timer and no listener behind: the loop waits thousands of times on one `stop` signal,
 * and a wait woken early must not keep listening to it (a sleep raced against `wake` did, until
 * its timer ran out: Node warned of a listener leak, on stderr, at 11).
 */
export function pause(ms: number, stop: AbortSignal, wake?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve();
    const end = () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', end);
      resolve();
    };
    const timer = setTimeout(end, ms);
    stop.addEventListener('abort', end, { once: true });
    wake?.then(end, end);
  });
}
