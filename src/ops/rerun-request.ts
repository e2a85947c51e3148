import { OrchestratorError } from '../errors.js';
import { UnderwritingCreatedSchema, type UnderwritingCreated } from '../events/underwriting-created.js';
import type { ExecutionRecord } from '../ledger/history.js';
import type { RerunRequest } from './views.js';

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

/**
 * What an operator's re-run of one underwriting runs again: its latest finished execution (of
 * `records`, newest first), and the processors asked for: `failed` is every entry not completed in
 * it (RERUN_REFUSED when there is none); named processors must have run in it (REQUEST_INVALID).
 */
export function rerunTarget(
  underwritingId: string,
  records: readonly ExecutionRecord[],
  request: Pick<RerunRequest, 'processors'>,
): { earlier: ExecutionRecord; processors: string[] } {
  const earlier = records.find((r) => r.finishedAt !== null);
  if (!earlier) {
    throw new OrchestratorError(
      'RERUN_REFUSED',
      `underwriting ${underwritingId} has no finished execution yet; wait for it to publish`,
    );
  }
  if (request.processors === 'failed') {
    const processors = earlier.runs.filter((r) => r.status !== 'completed').map((r) => r.processorId);
    if (processors.length === 0) {
      throw new OrchestratorError('RERUN_REFUSED', `nothing failed or timed out in execution ${earlier.key}`);
    }
    return { earlier, processors };
  }
  const ids = earlier.runs.map((r) => r.processorId);
  const unknown = request.processors.filter((p) => !ids.includes(p));
  if (unknown.length > 0) {
    throw new OrchestratorError(
      'REQUEST_INVALID',
      `processors: ${unknown.join(', ')} did not run in execution ${earlier.key} (it ran ${ids.join(', ')})`,
    );
  }
  return { earlier, processors: [...new Set(request.processors)] };
}
