import type { RerunOf, UnderwritingCreated } from '../../events/underwriting-created.js';
import { executionKey, type Ledger } from '../../ledger/ledger.js';
import type { Logger } from '../../logging.js';
import type { RunOutcome } from '../../processors/run.js';
import { rerunTakes } from '../../reuse.js';
import type { Verdict } from '../message.js';
import type { Claimed, Delivery, LedgerCall, Next } from './delivery.js';

export interface ClaimDeps {
  ledger: Pick<Ledger, 'begin'> & Partial<Pick<Ledger, 'history'>>;
  ledgerCall: LedgerCall;
}

/**
 * Claims the event's key (`event_id`, else the message id) in the ledger for this delivery: an
 * event published already is acked without work; one held by a live delivery elsewhere is nacked
 * (`begin` throws IN_PROGRESS_ELSEWHERE). A re-run looks up the execution it re-runs. Whatever
 * fails below gives the claim up at once (`release`), so that a redelivery need not wait for the
 * lease to run out.
 */
export function ledgerClaim({ ledger, ledgerCall }: ClaimDeps) {
  /**
   * What a re-run takes from the execution it re-runs (`rerunTakes`). That execution gone from
   * the ledger (past its retention): every purchased processor runs.
   */
  async function rerunReuse(rerun: RerunOf, key: string, log: Logger): Promise<Map<string, RunOutcome>> {
    const earlier = await ledger.history?.execution(rerun.of);
    if (!earlier) {
      log.warn(
        { execution_key: key, rerun_of: rerun.of },
        'the execution to re-run is not in the ledger; every purchased processor runs',
      );
    }
    return rerunTakes(earlier?.runs, rerun.processors);
  }

  return (next: Next<[Delivery, Claimed]>) =>
    async (delivery: Delivery, event: UnderwritingCreated): Promise<Verdict> => {
      const { message, ctx } = delivery;
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
        delivery.log.info(
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
        const reuse = rerun && (await ledgerCall('history', ctx, () => rerunReuse(rerun, key, delivery.log)));
        return await next(delivery, { event, key, claim, reuse });
      } catch (err) {
        await ledgerCall('release', ctx, () => claim.release());
        throw err;
      }
    };
}
