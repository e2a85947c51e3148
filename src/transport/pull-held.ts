import { setTimeout as sleep } from 'node:timers/promises';

import type { v1 } from '@google-cloud/pubsub';

import { messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Verdict } from './message.js';

export const HELD = {
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
} as const;

/** The messages pull holds: leased from when they are received until their verdict is sent. */
export interface Held {
  readonly size: number;
  /** Holds a received message (by its ack id), leased until its verdict. */
  hold(ackId: string): void;
  /** Sends a held message's verdict (batched); nothing once `close` has nacked what was left. */
  settle(ackId: string, verdict: Verdict): void;
  /** Nacks a message that is not held (received while closing). */
  nack(ackId: string): void;
  /**
   * Waits up to `timeoutMs` for the verdicts of what is held, leasing it meanwhile, then nacks the
   * rest (Pub/Sub may redeliver it at once), sends every ack and nack, and stops leasing.
   */
  close(timeoutMs: number): Promise<void>;
}

type Client = Pick<v1.SubscriberClient, 'acknowledge' | 'modifyAckDeadline'>;

/** `subscription` is read at each request: its project is known only once pulling has started. */
export function holdMessages(client: Client, subscription: () => string, log: Logger): Held {
  /** Ack id → when received (ms since epoch). */
  const held = new Map<string, number>();
  let closed = false;
  let drained: (() => void) | undefined;
  const send = (what: string, call: (ackIds: string[]) => Promise<unknown>) =>
    createBatcher(async (ackIds) => {
      try {
        await call(ackIds);
      } catch (err) {
        // Pub/Sub redelivers what it did not record; the ledger knows what was published.
        log.warn({ err: messageOf(err), messages: ackIds.length }, `${what} failed; Pub/Sub will redeliver`);
      }
    });
  const acks = send('ack', (ackIds) => client.acknowledge({ subscription: subscription(), ackIds }));
  const nacks = send('nack', (ackIds) =>
    client.modifyAckDeadline({ subscription: subscription(), ackIds, ackDeadlineSeconds: 0 }),
  );
  const lease = setInterval(
    () => void extendLeases(client, subscription(), held, log),
    HELD.leaseEveryMs,
  ).unref();

  return {
    get size() {
      return held.size;
    },
    hold: (ackId) => void held.set(ackId, Date.now()),
    settle(ackId, verdict) {
      // Past close's timeout it was nacked already.
      if (closed) return;
      held.delete(ackId);
      (verdict === 'ack' ? acks : nacks).add(ackId);
      if (held.size === 0) drained?.();
    },
    nack: (ackId) => nacks.add(ackId),
    async close(timeoutMs) {
      if (held.size > 0) {
        const empty = new Promise<void>((resolve) => (drained = resolve));
        await Promise.race([empty, sleep(timeoutMs, undefined, { ref: false })]);
      }
      closed = true;
      for (const ackId of held.keys()) nacks.add(ackId);
      held.clear();
      await Promise.all([acks.flush(), nacks.flush()]);
      clearInterval(lease);
    },
  };
}

async function extendLeases(
  client: Client,
  subscription: string,
  held: ReadonlyMap<string, number>,
  log: Logger,
): Promise<void> {
  const now = Date.now();
  const ackIds = [...held].filter(([, at]) => now - at < HELD.maxLeaseMs).map(([ackId]) => ackId);
  for (let i = 0; i < ackIds.length; i += HELD.ackBatch) {
    const chunk = ackIds.slice(i, i + HELD.ackBatch);
    await client
      .modifyAckDeadline({ subscription, ackIds: chunk, ackDeadlineSeconds: HELD.leaseSeconds })
      .catch((err: unknown) =>
        log.warn({ err: messageOf(err), messages: chunk.length }, 'lease extension failed'),
      );
  }
}

/** Collects ack ids and sends them together, `HELD.ackEveryMs` after the first or `HELD.ackBatch` at once. */
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
      if (ackIds.length >= HELD.ackBatch) flushNow();
      else timer ??= setTimeout(flushNow, HELD.ackEveryMs);
    },
    async flush(): Promise<void> {
      flushNow();
      await Promise.all(inFlight);
    },
  };
}
