import { ulid } from 'ulid';

import { OrchestratorError } from '../errors.js';
import { UnderwritingCreatedSchema, type UnderwritingCreated } from '../events/underwriting-created.js';
import type { ExecutionRecord, LedgerHistory } from '../ledger/history.js';
import { statsOf } from './stats.js';
import type {
  ExecutionPage,
  ExecutionQuery,
  ExecutionView,
  OpsApi,
  OpsIdentity,
  RerunRequest,
  StatsView,
  StatsWindow,
  UnderwritingView,
} from './views.js';

/** Bounds of the reads, named once (docs/operations.md states them). */
export const OPS_LIMITS = {
  /** Executions of one underwriting shown, newest first. */
  underwritingExecutions: 100,
  /** Most recent executions the stats are computed from. */
  statsSample: 1_000,
  /** How long one window's stats are served from memory. */
  statsCacheMs: 5_000,
} as const;

export interface OpsApiDeps {
  /** The ledger's history; `undefined` with `LEDGER=none`: every call is OPS_UNAVAILABLE. */
  history: LedgerHistory | undefined;
  /**
   * Publishes a re-run request (an `underwriting.created` carrying `data.rerun`) to the input
   * topic, where any instance takes it through the normal pipeline; resolves with its message id.
   */
  publishRerun(event: UnderwritingCreated, attributes: Record<string, string>): Promise<string>;
  /** Events in flight on this instance. */
  inFlight(): number;
  limits?: Partial<Record<keyof typeof OPS_LIMITS, number>>;
}

/**
 * The operations read model over the ledger's history, and the re-run request. Reads are bounded
 * (`OPS_LIMITS`); stats are cached per window for a few seconds and say what they were computed from.
 */
export function createOpsApi(deps: OpsApiDeps): OpsApi {
  const limits = { ...OPS_LIMITS, ...deps.limits };
  const cache = new Map<StatsWindow, { at: number; view: Promise<StatsView> }>();

  function history(): LedgerHistory {
    if (deps.history) return deps.history;
    throw new OrchestratorError(
      'OPS_UNAVAILABLE',
      'LEDGER=none: the operations views read the execution ledger, and there is none; set LEDGER=firestore (or memory)',
    );
  }

  async function executionsOf(id: string): Promise<ExecutionRecord[]> {
    const records = await history().underwriting(id, limits.underwritingExecutions);
    if (records.length === 0) {
      throw new OrchestratorError('NOT_FOUND', `no execution of underwriting ${id} in the ledger`);
    }
    return records;
  }

  return {
    async underwriting(id: string): Promise<UnderwritingView> {
      const records = await executionsOf(id);
      return { underwriting_id: id, executions: records.map(toView) };
    },

    async executions(query: ExecutionQuery): Promise<ExecutionPage> {
      const { records, next } = await history().executions(query);
      return { executions: records.map(toView), next_cursor: next };
    },

    async stats(window: StatsWindow): Promise<StatsView> {
      const source = history();
      const now = Date.now();
      const cached = cache.get(window);
      let view = cached && now - cached.at < limits.statsCacheMs ? cached.view : undefined;
      if (!view) {
        const since = new Date(now - WINDOW_MS[window]).toISOString();
        view = source
          .executions({ since, limit: limits.statsSample })
          .then(({ records, next }) => statsOf(window, records, next !== null, limits.statsSample, now));
        cache.set(window, { at: now, view });
        // A failed read is not cached.
        view.catch(() => cache.delete(window));
      }
      return { ...(await view), in_flight: deps.inFlight() };
    },

    async rerun(underwritingId: string, request: RerunRequest, by: OpsIdentity): Promise<{ key: string }> {
      const records = await executionsOf(underwritingId);
      const earlier = records.find((r) => r.finishedAt !== null);
      if (!earlier) {
        throw new OrchestratorError(
          'RERUN_REFUSED',
          `underwriting ${underwritingId} has no finished execution yet; wait for it to publish`,
        );
      }
      const ids = earlier.runs.map((r) => r.processorId);
      let processors: string[];
      if (request.processors === 'failed') {
        processors = earlier.runs.filter((r) => r.status !== 'completed').map((r) => r.processorId);
        if (processors.length === 0) {
          throw new OrchestratorError(
            'RERUN_REFUSED',
            `nothing failed or timed out in execution ${earlier.key}`,
          );
        }
      } else {
        const unknown = request.processors.filter((p) => !ids.includes(p));
        if (unknown.length > 0) {
          throw new OrchestratorError(
            'REQUEST_INVALID',
            `processors: ${unknown.join(', ')} did not run in execution ${earlier.key} (it ran ${ids.join(', ')})`,
          );
        }
        processors = [...new Set(request.processors)];
      }
      // The new execution's key, minted here: a redelivery of the request is the same execution.
      const key = ulid();
      const event = UnderwritingCreatedSchema.parse({
        event: 'underwriting.created',
        data: {
          underwriting_id: underwritingId,
          documents: earlier.documents,
          ...(earlier.organizationId !== undefined && { organization_id: earlier.organizationId }),
          purchased_processors: ids,
          event_id: key,
          rerun: { of: earlier.key, processors, requested_by: by.email, reason: request.reason },
        },
      });
      await deps.publishRerun(event, { rerun_of: earlier.key, underwriting_id: underwritingId });
      return { key };
    },
  };
}

const WINDOW_MS: Record<StatsWindow, number> = { '1h': 3_600_000, '24h': 86_400_000 };

/** A recorded execution as the views show it. */
export function toView(record: ExecutionRecord): ExecutionView {
  return {
    key: record.key,
    underwriting_id: record.underwritingId,
    source_message_id: record.sourceMessageId,
    received_at: record.receivedAt,
    finished_at: record.finishedAt,
    deliveries: record.deliveries,
    overall_status: record.overallStatus,
    published_message_id: record.publishedMessageId,
    rerun: record.rerun && {
      of: record.rerun.of,
      requested_by: record.rerun.requested_by,
      reason: record.rerun.reason,
      processors: record.rerun.processors,
    },
    processors: record.runs
      .map((run) => ({
        processor_id: run.processorId,
        status: run.status,
        attempts: run.attempts,
        execution_ids: run.executionIds,
        queue_wait: run.queueWait,
        run_time: run.executionTime,
        error_message: run.errorMessage,
        timeout_phase: run.timeoutPhase,
        reused: run.reused,
      }))
      .sort((a, b) => a.processor_id.localeCompare(b.processor_id)),
  };
}
