import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { OrchestratorError } from '../errors.js';
import { decodeEvent } from '../events/decode.js';
import type { Logger } from '../logging.js';
import type { Orchestrator } from '../orchestrator.js';
import type { DeadLetter } from './dead-letter.js';
import type { InboundMessage, Verdict } from './message.js';
import type { CompletedPublisher } from './publisher.js';

export interface HandlerDeps {
  orchestrator: Pick<Orchestrator, 'process'>;
  publisher: Pick<CompletedPublisher, 'publish'>;
  deadLetter: DeadLetter;
  log: Logger;
}

export interface MessageHandler {
  /**
   * One message in, what to do with it out; never rejects. `ack` once `processing.completed`
   * is published, or the message was poison and dead-lettered; `nack` when a retry can fix it
   * (document source down, publish failed, shutting down) or on an unexpected error, so that
   * nothing is lost (the subscription's dead-letter policy bounds the retries).
   */
  handle(message: InboundMessage): Promise<Verdict>;
  /** Messages being handled now. */
  inFlight(): number;
  /**
   * Shutdown: from now on every new message is nacked at once. Waits up to `timeoutMs` for the
   * messages in flight, then abandons the rest (their verdict is `nack` at once, and nothing
   * more is published for them). Resolves with how many were abandoned, once every verdict is
   * given.
   */
  drain(timeoutMs: number): Promise<number>;
}

/** The pipeline every transport shares: decode → orchestrate → publish → verdict. */
export function createMessageHandler(deps: HandlerDeps): MessageHandler {
  const { orchestrator, publisher, deadLetter, log } = deps;
  const pending = new Set<Promise<Verdict>>();
  const abandon = new AbortController();
  // Every event in flight listens to it.
  setMaxListeners(0, abandon.signal);
  let draining = false;

  async function handleOne(message: InboundMessage): Promise<Verdict> {
    try {
      const decoded = decodeEvent(message.data);
      if (!decoded.ok) {
        await deadLetter(message, decoded.reason);
        return 'ack';
      }
      const result = await orchestrator.process(decoded.event, {
        sourceMessageId: message.id,
        receivedAt: message.receivedAt,
        transport: message.transport,
        deliveryAttempt: message.deliveryAttempt,
        signal: abandon.signal,
      });
      // Past the drain deadline the transport nacks what is left; publishing now could publish twice.
      if (abandon.signal.aborted) throw shuttingDown();
      await publisher.publish(result, message.id);
      return 'ack';
    } catch (err) {
      const fields = {
        source_message_id: message.id,
        transport: message.transport,
        delivery_attempt: message.deliveryAttempt ?? null,
        verdict: 'nack',
      };
      if (err instanceof OrchestratorError && err.retryable) {
        log.warn({ ...fields, code: err.code, error_message: err.message }, 'event will be retried');
      } else {
        log.error({ ...fields, err }, 'event failed unexpectedly; it will be retried');
      }
      return 'nack';
    }
  }

  function handle(message: InboundMessage): Promise<Verdict> {
    // Shutting down: take nothing new; Pub/Sub redelivers it, to another instance.
    if (draining) return Promise.resolve('nack');
    const verdict = handleOne(message);
    pending.add(verdict);
    void verdict.finally(() => pending.delete(verdict));
    return verdict;
  }

  async function drain(timeoutMs: number): Promise<number> {
    draining = true;
    const wait = new AbortController();
    const settled = Promise.all(pending);
    await Promise.race([settled, sleep(timeoutMs, undefined, { signal: wait.signal }).catch(() => {})]);
    wait.abort();
    const abandoned = pending.size;
    abandon.abort(shuttingDown());
    await Promise.all(pending);
    return abandoned;
  }

  return { handle, inFlight: () => pending.size, drain };
}

function shuttingDown(): OrchestratorError {
  return new OrchestratorError('SHUTTING_DOWN', 'shutting down before the event finished');
}
