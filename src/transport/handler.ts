import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Ledger } from '../ledger/ledger.js';
import { createNoLedger } from '../ledger/none.js';
import type { Logger } from '../logging.js';
import type { Orchestrator } from '../orchestrator.js';
import { noTelemetry, type Telemetry } from '../telemetry/telemetry.js';
import type { DeadLetter } from './dead-letter.js';
import type { InboundMessage, Verdict } from './message.js';
import type { CompletedPublisher } from './publisher.js';
import { ledgerClaim } from './steps/claim.js';
import { core, shuttingDown } from './steps/core.js';
import { ledgerCalls } from './steps/delivery.js';
import { poisonQueue } from './steps/poison.js';
import { tracing } from './steps/trace.js';

export interface HandlerDeps {
  orchestrator: Pick<Orchestrator, 'process'>;
  publisher: Pick<CompletedPublisher, 'publish'>;
  deadLetter: DeadLetter;
  /** The execution ledger (default: none); its calls are traced when its `kind` is `firestore`. */
  ledger?: Pick<Ledger, 'begin' | 'beginDeadLetter'> & Partial<Pick<Ledger, 'kind' | 'history'>>;
  log: Logger;
  /** Spans and metrics (default: none). */
  telemetry?: Pick<Telemetry, 'tracer' | 'metrics' | 'projectId'>;
}

export interface MessageHandler {
  /**
   * One message in, what to do with it out; never rejects. `ack` once `processing.completed`
   * is published (by this delivery, or by an earlier one the ledger remembers), or the message
   * was poison and dead-lettered; `nack` when a retry can fix it (document source down, publish
   * failed, ledger unavailable, the same event in progress elsewhere, shutting down) or on an
   * unexpected error, so that nothing is lost (the subscription's dead-letter policy bounds the
   * retries).
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

/**
 * The pipeline every transport shares: decode → claim → orchestrate → publish → verdict, as steps
 * in Watermill's style, each wrapping the ones below it (see `steps/`). Each message is handled
 * under one span, `underwriting.created process`, child of the context the publisher sent
 * (`message.trace`); its log lines name that span.
 */
export function createMessageHandler(deps: HandlerDeps): MessageHandler {
  const telemetry = deps.telemetry ?? noTelemetry();
  const { metrics } = telemetry;
  const ledger = deps.ledger ?? createNoLedger();
  const ledgerCall = ledgerCalls(telemetry.tracer, deps.ledger?.kind === 'firestore');
  const pending = new Set<Promise<Verdict>>();
  const abandon = new AbortController();
  // Every event in flight listens to it.
  setMaxListeners(0, abandon.signal);
  let draining = false;

  // Built once; outermost first.
  const handleOne = tracing({ log: deps.log, telemetry })(
    poisonQueue({ deadLetter: deps.deadLetter, ledger, metrics, ledgerCall })(
      ledgerClaim({ ledger, ledgerCall })(core({ ...deps, metrics, ledgerCall, abandoned: abandon.signal })),
    ),
  );

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
