import { OrchestratorError, messageOf } from '../../errors.js';
import type { Orchestrator } from '../../orchestrator.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { Verdict } from '../message.js';
import type { CompletedPublisher } from '../publisher.js';
import type { Claimed, Delivery, LedgerCall } from './delivery.js';

export interface CoreDeps {
  orchestrator: Pick<Orchestrator, 'process'>;
  publisher: Pick<CompletedPublisher, 'publish'>;
  metrics: Pick<Telemetry['metrics'], 'processed'>;
  ledgerCall: LedgerCall;
  /** Aborted past the drain deadline: the transport nacks what is left, nothing more is published. */
  abandoned: AbortSignal;
}

/**
 * The innermost step: orchestrates the event (reusing what the claim recorded and what a re-run
 * takes), makes the result durable (`settle`), publishes it, and marks the key published. A
 * failure to mark it still acks: only a redelivery (rare: the ack must be lost too) publishes again.
 */
export function core({ orchestrator, publisher, metrics, ledgerCall, abandoned }: CoreDeps) {
  return async (delivery: Delivery, { event, key, claim, reuse }: Claimed): Promise<Verdict> => {
    const { message, ctx } = delivery;
    const { rerun } = event.data;
    const processed = await orchestrator.process(event, {
      sourceMessageId: message.id,
      receivedAt: message.receivedAt,
      transport: message.transport,
      deliveryAttempt: message.deliveryAttempt,
      signal: abandoned,
      recorded: claim.prior,
      reuse,
      onOutcome: (outcome, facts) => claim.record(outcome, facts),
      ticket: message.ticket,
      trace: ctx,
    });
    const result = rerun ? { ...processed, rerun_of: rerun.of } : processed;
    // Past the drain deadline the transport nacks what is left; publishing now could publish twice.
    if (abandoned.aborted) throw shuttingDown();
    await ledgerCall('settle', ctx, () => claim.settle(result));
    const publishedId = await publisher.publish(result, message.id, ctx);
    metrics.processed.add(1, { overall_status: result.overall_status, transport: message.transport });
    await ledgerCall('published', ctx, () => claim.published(result, publishedId)).catch((err: unknown) =>
      delivery.log.warn(
        { source_message_id: message.id, execution_key: key, err: messageOf(err) },
        'published, but the ledger could not record it',
      ),
    );
    return 'ack';
  };
}

export function shuttingDown(): OrchestratorError {
  return new OrchestratorError('SHUTTING_DOWN', 'shutting down before the event finished');
}
