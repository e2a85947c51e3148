import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';

import { OrchestratorError, errorType, messageOf } from '../errors.js';
import { decodeEvent, type Decoded } from '../events/decode.js';
import type { RerunOf } from '../events/underwriting-created.js';
import { executionKey, type Ledger } from '../ledger/ledger.js';
import { createNoLedger } from '../ledger/none.js';
import type { Logger } from '../logging.js';
import type { Orchestrator } from '../orchestrator.js';
import type { RunOutcome } from '../processors/run.js';
import { logBindings, noTelemetry, type Telemetry } from '../telemetry/telemetry.js';
import { validSpanContext } from '../telemetry/trace-context.js';
import type { DeadLetter } from './dead-letter.js';
import type { InboundMessage, Verdict } from './message.js';
import type { CompletedPublisher } from './publisher.js';

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
 * The pipeline every transport shares: decode → orchestrate → publish → verdict. Each message is
 * handled under one span, `underwriting.created process`, child of the context the publisher sent
 * (`message.trace`); its log lines name that span.
 */
export function createMessageHandler(deps: HandlerDeps): MessageHandler {
  const { orchestrator, publisher, deadLetter } = deps;
  const telemetry = deps.telemetry ?? noTelemetry();
  const { tracer, metrics } = telemetry;
  const ledger = deps.ledger ?? createNoLedger();
  // The in-process ledgers answer in microseconds: spans would only add noise to the trace.
  const tracedLedger = deps.ledger?.kind === 'firestore';
  const pending = new Set<Promise<Verdict>>();
  const abandon = new AbortController();
  // Every event in flight listens to it.
  setMaxListeners(0, abandon.signal);
  let draining = false;

  async function handleOne(message: InboundMessage): Promise<Verdict> {
    const span = tracer.startSpan(
      'underwriting.created process',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'gcp_pubsub',
          'messaging.operation.type': 'process',
          'messaging.message.id': message.id,
          transport: message.transport,
          ...(message.deliveryAttempt !== undefined && {
            'messaging.gcp_pubsub.message.delivery_attempt': message.deliveryAttempt,
          }),
        },
      },
      message.trace,
    );
    const ctx = trace.setSpan(message.trace ?? ROOT_CONTEXT, span);
    const log = validSpanContext(ctx) ? deps.log.child(logBindings(telemetry, ctx)) : deps.log;
    let failure: string | undefined;
    try {
      const verdict = await handleTraced(message, ctx, log);
      span.setAttribute('messaging.gcp_pubsub.result', verdict);
      return verdict;
    } catch (err) {
      failure = errorType(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
      span.setAttributes({ 'messaging.gcp_pubsub.result': 'nack', 'error.type': failure });
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
    } finally {
      span.end();
      metrics.processDuration.record((performance.now() - message.receivedAt) / 1000, {
        'messaging.system': 'gcp_pubsub',
        'messaging.operation.name': 'process',
        transport: message.transport,
        ...(failure !== undefined && { 'error.type': failure }),
      });
    }
  }

  /** A call of the ledger, under its own span when it goes over the network. */
  function ledgerCall<T>(name: string, ctx: Context, call: () => Promise<T>): Promise<T> {
    if (!tracedLedger) return call();
    const span = tracer.startSpan(`ledger ${name}`, undefined, ctx);
    return call().then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorType(err) });
        span.end();
        throw err;
      },
    );
  }

  async function handleTraced(message: InboundMessage, ctx: Context, log: Logger): Promise<Verdict> {
    const decoded = decodeEvent(message.data);
    if (!decoded.ok) return deadLetterOnce(message, decoded, ctx, log);
    const { event } = decoded;
    trace.getSpan(ctx)?.setAttribute('underwriting.id', event.data.underwriting_id);
    const key = executionKey(event, message.id);
    const { rerun } = event.data;
    const begun = await ledgerCall('begin', ctx, () =>
      ledger.begin({
        key,
        underwritingId: event.data.underwriting_id,
        sourceMessageId: message.id,
        documents: event.data.documents,
        organizationId: event.data.organization_id,
        rerun,
      }),
    );
    if (begun.state === 'published') {
      log.info(
        {
          source_message_id: message.id,
          execution_key: key,
          underwriting_id: event.data.underwriting_id,
          published_at: begun.publishedAt,
        },
        'already published; acked without publishing again',
      );
      return 'ack';
    }
    const { claim } = begun;
    try {
      const reuse = rerun && (await ledgerCall('history', ctx, () => reusedOutcomes(rerun, key, log)));
      const processed = await orchestrator.process(event, {
        sourceMessageId: message.id,
        receivedAt: message.receivedAt,
        transport: message.transport,
        deliveryAttempt: message.deliveryAttempt,
        signal: abandon.signal,
        recorded: claim.prior,
        reuse,
        onOutcome: (outcome, facts) => claim.record(outcome, facts),
        ticket: message.ticket,
        trace: ctx,
      });
      const result = rerun ? { ...processed, rerun_of: rerun.of } : processed;
      // Past the drain deadline the transport nacks what is left; publishing now could publish twice.
      if (abandon.signal.aborted) throw shuttingDown();
      await ledgerCall('settle', ctx, () => claim.settle(result));
      const publishedId = await publisher.publish(result, message.id, ctx);
      metrics.processed.add(1, { overall_status: result.overall_status, transport: message.transport });
      await ledgerCall('published', ctx, () => claim.published(result, publishedId)).catch((err: unknown) =>
        // Published all the same: ack. Only a redelivery (rare: the ack must be lost too) publishes again.
        log.warn(
          { source_message_id: message.id, execution_key: key, err: messageOf(err) },
          'published, but the ledger could not record it',
        ),
      );
      return 'ack';
    } catch (err) {
      await ledgerCall('release', ctx, () => claim.release());
      throw err;
    }
  }

  /**
   * Poison: forwarded to the dead-letter topic once per message, whatever delivered it (the
   * ledger remembers it), then acked. A failed forward releases the claim and is retried.
   */
  async function deadLetterOnce(
    message: InboundMessage,
    poison: Extract<Decoded, { ok: false }>,
    ctx: Context,
    log: Logger,
  ): Promise<Verdict> {
    const begun = await ledgerCall('dead-letter', ctx, () => ledger.beginDeadLetter(message.id));
    if (begun.state === 'forwarded') {
      log.info(
        { source_message_id: message.id, transport: message.transport },
        'poison message dead-lettered already; acked without forwarding it again',
      );
      return 'ack';
    }
    try {
      await deadLetter(message, poison.reason);
    } catch (err) {
      await begun.claim.release();
      throw err;
    }
    metrics.deadLettered.add(1, { 'error.type': poison.kind });
    await ledgerCall('dead-lettered', ctx, () => begun.claim.forwarded()).catch((err: unknown) =>
      // Forwarded all the same: ack. Only a redelivery (rare: the ack must be lost too) forwards again.
      log.warn(
        { source_message_id: message.id, err: messageOf(err) },
        'dead-lettered, but the ledger could not record it',
      ),
    );
    return 'ack';
  }

  /**
   * A re-run takes every processor it does not run from the execution it re-runs, as recorded.
   * That execution gone from the ledger (past its retention): every purchased processor runs.
   */
  async function reusedOutcomes(rerun: RerunOf, key: string, log: Logger): Promise<Map<string, RunOutcome>> {
    const earlier = await ledger.history?.execution(rerun.of);
    if (!earlier) {
      log.warn(
        { execution_key: key, rerun_of: rerun.of },
        'the execution to re-run is not in the ledger; every purchased processor runs',
      );
      return new Map();
    }
    const reused = new Map<string, RunOutcome>();
    for (const run of earlier.runs) {
      if (!rerun.processors.includes(run.processorId) && run.outcome)
        reused.set(run.processorId, run.outcome);
    }
    return reused;
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
