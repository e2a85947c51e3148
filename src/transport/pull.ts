import { setTimeout as sleep } from 'node:timers/promises';

import { v1, type protos, type PubSub } from '@google-cloud/pubsub';

import type { Admission } from '../admission/admission.js';
import { OrchestratorError, messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { contextFromAttributes } from '../telemetry/trace-context.js';
import type { MessageHandler } from './handler.js';
import { afterPull, askFor, PULL_WINDOW, whileFull } from './pull-window.js';
import { GRPC, grpcCode } from './pubsub.js';

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
  /**
   * Held messages are leased for this long, renewed every `leaseEveryMs` (the first renewal comes
   * before the subscription's own deadline, 10 s at the least). Short, so that the events of an
   * instance that died are redelivered soon.
   */
  leaseSeconds: 15,
  leaseEveryMs: 5_000,
  /** A message is leased no longer than this (the client library's default), then left to expire. */
  maxLeaseMs: 60 * 60_000,
  /** Acks and nacks wait this long to travel together (at most `ackBatch` in a request). */
  ackEveryMs: 10,
  ackBatch: 1_000,
  /** While there is no room, the longest wait before the room is looked at again. */
  roomEveryMs: 100,
  /** Back-off after a failed pull: doubles from the first to the last. */
  retryMs: [100, 10_000],
} as const;

/**
 * Pull by asking: each pull asks Pub/Sub for as many messages as the instance can start now, so
 * an instance holds only what it can start soon, and slow processors leave the rest of the
 * backlog to other instances. (A streaming pull is granted a fixed flow-control window when it
 * opens, held until each ack is sent.) Every message is acked or nacked by the handler's
 * verdict, never before; held messages are leased until then.
 */
export function startPull(options: PullOptions): PullSubscriber {
  const { pubsub, handler, log } = options;
  const client = new v1.SubscriberClient(
    pubsub.options as ConstructorParameters<typeof v1.SubscriberClient>[0],
  );
  // Its full name; the project is the client's own (from the credentials) when the configuration
  // names none, known once the loop has started (see `pullLoop`).
  let subscription = pubsub.subscription(options.subscription).name;
  /** Messages received and not yet acked or nacked: ack id → when received (ms since epoch). */
  const held = new Map<string, number>();
  let closing = false;
  /** Aborted at close: ends the loop's waits at once. */
  const stopping = new AbortController();
  const wait = (ms: number, wake?: Promise<void>) =>
    Promise.race([
      sleep(ms, undefined, { signal: stopping.signal }).catch(() => {}),
      ...(wake ? [wake] : []),
    ]);
  let closed = false;
  let healthy = true;
  let inFlight: CancellablePull | undefined;
  let drained = signal();

  const send = (what: string, call: (subscription: string, ackIds: string[]) => Promise<unknown>) =>
    createBatcher(async (ackIds) => {
      try {
        await call(subscription, ackIds);
      } catch (err) {
        // Pub/Sub redelivers what it did not record; the ledger knows what was published.
        log.warn({ err: messageOf(err), messages: ackIds.length }, `${what} failed; Pub/Sub will redeliver`);
      }
    });
  const acks = send('ack', (sub, ackIds) => client.acknowledge({ subscription: sub, ackIds }));
  const nacks = send('nack', (sub, ackIds) =>
    client.modifyAckDeadline({ subscription: sub, ackIds, ackDeadlineSeconds: 0 }),
  );
  const lease = setInterval(() => void extendLeases(), PULL.leaseEveryMs).unref();

  async function extendLeases(): Promise<void> {
    const now = Date.now();
    const ackIds = [...held].filter(([, at]) => now - at < PULL.maxLeaseMs).map(([ackId]) => ackId);
    for (let i = 0; i < ackIds.length; i += PULL.ackBatch) {
      const chunk = ackIds.slice(i, i + PULL.ackBatch);
      await client
        .modifyAckDeadline({
          subscription,
          ackIds: chunk,
          ackDeadlineSeconds: PULL.leaseSeconds,
        })
        .catch((err: unknown) =>
          log.warn({ err: messageOf(err), messages: chunk.length }, 'lease extension failed'),
        );
    }
  }

  function receive(ackId: string, message: protos.google.pubsub.v1.IPubsubMessage, deliveryAttempt: number) {
    if (closing) return nacks.add(ackId);
    held.set(ackId, Date.now());
    // Asked for, so taken: admission counts it from now until its verdict.
    const ticket = options.admission.take();
    const attributes = message.attributes ?? {};
    const data = message.data ?? Buffer.alloc(0);
    void handler
      .handle({
        id: message.messageId ?? '',
        data: Buffer.isBuffer(data) ? data : Buffer.from(data),
        attributes,
        receivedAt: performance.now(),
        // 0 when the subscription has no dead-letter policy.
        deliveryAttempt: deliveryAttempt || undefined,
        transport: 'pull',
        trace: contextFromAttributes(attributes),
        ticket,
      })
      .then((verdict) => {
        ticket.release();
        // Past close's timeout it was nacked already.
        if (closed) return;
        held.delete(ackId);
        (verdict === 'ack' ? acks : nacks).add(ackId);
        if (held.size === 0) drained.fire();
      });
  }

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
  function pull(sub: string, maxMessages: number): CancellablePull {
    const call = client.innerApiCalls['pull'] as (request: unknown, options: unknown) => CancellablePull;
    return call(
      { subscription: sub, maxMessages },
      { otherArgs: { headers: { 'x-goog-request-params': `subscription=${encodeURIComponent(sub)}` } } },
    );
  }

  async function pullLoop(): Promise<void> {
    await client.initialize();
    if (subscription.includes('{{projectId}}'))
      subscription = subscription.replace('{{projectId}}', await client.getProjectId());
    let failures = 0;
    let window: number = PULL_WINDOW.first;
    while (!closing) {
      // What was pulled last is in the pool, holding what it holds, before the room is judged.
      if (options.admission.intake() > 0) {
        await wait(PULL.roomEveryMs, options.admission.changed());
        continue;
      }
      const room = Math.min(options.admission.room(), (options.maxMessages ?? Infinity) - held.size);
      if (room <= 0) {
        window = whileFull(window);
        await wait(PULL.roomEveryMs, options.admission.changed());
        continue;
      }
      const wanted = askFor(window, room);
      try {
        inFlight = pull(subscription, wanted);
        const [response] = await inFlight;
        healthy = true;
        failures = 0;
        const messages = response.receivedMessages ?? [];
        window = afterPull(window, wanted, messages.length);
        for (const received of messages) {
          if (received.ackId && received.message)
            receive(received.ackId, received.message, received.deliveryAttempt ?? 0);
        }
      } catch (err) {
        if (closing) return;
        const code = grpcCode(err);
        if (code === GRPC.NOT_FOUND || code === GRPC.PERMISSION_DENIED) {
          healthy = false;
          // gRPC's own text, without the status prefix ("5 NOT_FOUND: ").
          const reason = (err as { details?: string }).details || messageOf(err);
          options.onFatal(
            new OrchestratorError('PULL_FAILED', `pulling from ${subscription}: ${reason}`, {
              cause: err,
            }),
          );
          return;
        }
        healthy = false;
        const waitMs = Math.min(PULL.retryMs[1], PULL.retryMs[0] * 2 ** failures++);
        log.warn({ err, subscription: options.subscription, retry_in_ms: waitMs }, 'pull failed; retrying');
        await wait(waitMs);
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
      if (held.size > 0) {
        drained = signal();
        await Promise.race([drained.promise, sleep(options.closeTimeoutMs, undefined, { ref: false })]);
      }
      // Verdicts not given in time: Pub/Sub may redeliver at once.
      closed = true;
      for (const ackId of held.keys()) nacks.add(ackId);
      held.clear();
      await Promise.all([acks.flush(), nacks.flush()]);
      clearInterval(lease);
      await client.close();
    },
  };
}

type CancellablePull = Promise<[protos.google.pubsub.v1.IPullResponse]> & { cancel(): void };

/** A promise to wait on, and the function that settles it. */
function signal(): { promise: Promise<void>; fire(): void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

/** Collects ack ids and sends them together, `PULL.ackEveryMs` after the first or `PULL.ackBatch` at once. */
function createBatcher(send: (ackIds: string[]) => Promise<void>) {
  let ackIds: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();
  function flushNow(): void {
    clearTimeout(timer);
    timer = undefined;
    if (ackIds.length === 0) return;
    const sending = send(ackIds);
    ackIds = [];
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
  }
  return {
    add(ackId: string): void {
      ackIds.push(ackId);
      if (ackIds.length >= PULL.ackBatch) flushNow();
      else timer ??= setTimeout(flushNow, PULL.ackEveryMs);
    },
    async flush(): Promise<void> {
      flushNow();
      await Promise.all(inFlight);
    },
  };
}
