import { UnderwritingCreatedSchema, type UnderwritingCreated } from '../events/underwriting-created.js';
import type { ExecutionRecord } from '../ledger/history.js';

/** Who asked for a re-run and why; `job` when a bulk re-run job asked. */
export interface RerunAsk {
  processors: string[];
  requestedBy: string;
  reason: string;
  job?: string | undefined;
}

/**
 * The re-run request of an execution, as published to the input topic: an `underwriting.created`
 * with the same underwriting, documents and organization, every processor of that execution
 * purchased, `event_id` = the new execution's `key` (so every publish of it is one execution), and
 * `data.rerun`; with its attributes.
 */
export function rerunRequest(
  earlier: ExecutionRecord,
  key: string,
  ask: RerunAsk,
): { event: UnderwritingCreated; attributes: Record<string, string> } {
  const event = UnderwritingCreatedSchema.parse({
    event: 'underwriting.created',
    data: {
      underwriting_id: earlier.underwritingId,
      documents: earlier.documents,
      ...(earlier.organizationId !== undefined && { organization_id: earlier.organizationId }),
      purchased_processors: earlier.runs.map((r) => r.processorId),
      event_id: key,
      rerun: {
        of: earlier.key,
        processors: ask.processors,
        requested_by: ask.requestedBy,
        reason: ask.reason,
        ...(ask.job !== undefined && { job: ask.job }),
      },
    },
  });
  const attributes: Record<string, string> = {
    rerun_of: earlier.key,
    underwriting_id: earlier.underwritingId,
    ...(ask.job !== undefined && { rerun_job: ask.job }),
  };
  return { event, attributes };
}
