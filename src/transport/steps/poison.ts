import { trace } from '@opentelemetry/api';

import { messageOf } from '../../errors.js';
import { decodeEvent, type Decoded } from '../../events/decode.js';
import type { UnderwritingCreated } from '../../events/underwriting-created.js';
import type { Ledger } from '../../ledger/ledger.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { DeadLetter } from '../dead-letter.js';
import type { Verdict } from '../message.js';
import type { Delivery, LedgerCall, Next } from './delivery.js';

export interface PoisonDeps {
  deadLetter: DeadLetter;
  ledger: Pick<Ledger, 'beginDeadLetter'>;
  metrics: Pick<Telemetry['metrics'], 'deadLettered'>;
  ledgerCall: LedgerCall;
}

/**
 * Decodes the message. Poison (not JSON, another event, a body that fails the schema) is
 * forwarded to the dead-letter topic once per message, whatever delivered it (the ledger
 * remembers it), then acked; a failed forward releases the claim and is retried. A valid event
 * goes on, its span named after its underwriting.
 */
export function poisonQueue({ deadLetter, ledger, metrics, ledgerCall }: PoisonDeps) {
  async function deadLetterOnce(
    { message, ctx, log }: Delivery,
    poison: Extract<Decoded, { ok: false }>,
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

  return (next: Next<[Delivery, UnderwritingCreated]>) =>
    (delivery: Delivery): Promise<Verdict> => {
      const decoded = decodeEvent(delivery.message.data);
      if (!decoded.ok) return deadLetterOnce(delivery, decoded);
      trace.getSpan(delivery.ctx)?.setAttribute('underwriting.id', decoded.event.data.underwriting_id);
      return next(delivery, decoded.event);
    };
}
