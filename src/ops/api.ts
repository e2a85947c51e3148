import { ulid } from 'ulid';

import { OrchestratorError } from '../errors.js';
import type { UnderwritingCreated } from '../events/underwriting-created.js';
import type { ExecutionFilter, ExecutionRecord, LedgerHistory } from '../ledger/history.js';
import type { AuditEntry, OpsState } from '../ledger/ops-records.js';
import type { Logger } from '../logging.js';
import { createActions } from './actions.js';
import { auditEntry, scopeOf } from './audit-trail.js';
import { createBulkReruns } from './bulk.js';
import type { Carrier } from './carrier.js';
import { rerunRequest, rerunTarget } from './rerun-request.js';
import { statsOf } from './stats.js';
import type {
  AuditPage,
  AuditQuery,
  CircuitView,
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
  /** Pauses, the audit trail and bulk re-run jobs, beside the ledger; `undefined` with `LEDGER=none`. */
  state?: OpsState | undefined;
  /** Called after this instance paused or resumed a processor: its next event must see it. */
  pausesChanged?: () => Promise<void>;
  /** Ids of the installed processors; `undefined` while the service starts. */
  installed?: () => readonly string[] | undefined;
  /** This instance's circuit breakers. */
  circuits?: () => CircuitView[];
  /** Carries bulk re-run jobs on (woken when one is made here). */
  carrier?: Pick<Carrier, 'wake'>;
  /** This instance, as the owner of the jobs it makes. */
  owner?: string;
  /**
   * Publishes a re-run request (an `underwriting.created` carrying `data.rerun`) to the input
   * topic, where any instance takes it through the normal pipeline; resolves with its message id.
   */
  publishRerun(event: UnderwritingCreated, attributes: Record<string, string>): Promise<string>;
  /** Events in flight on this instance. */
  inFlight(): number;
  /** Where an audit entry that could not be written is logged whole. */
  log?: Logger;
  limits?: Partial<Record<keyof typeof OPS_LIMITS, number>>;
}

/**
 * The operations read model over the ledger's history, and the re-run request. Reads are bounded
 * (`OPS_LIMITS`); stats are cached per window for a few seconds and say what they were computed from.
 */
export function createOpsApi(deps: OpsApiDeps): OpsApi {
  const limits = { ...OPS_LIMITS, ...deps.limits };
  function history(): LedgerHistory {
    if (deps.history) return deps.history;
    throw none();
  }

  function state(): OpsState {
    if (deps.state) return deps.state;
    throw none();
  }

  async function audit(entry: AuditEntry): Promise<void> {
    try {
      await state().audit.record(entry);
    } catch (err) {
      // The action is done: the entry goes to the log whole, so it is not lost.
      deps.log?.error({ err, audit: entry }, 'audit entry not recorded');
    }
  }

  const cachedStats = statsCache(history, limits);
  const stats = async (window: StatsWindow): Promise<StatsView> => ({
    ...(await cachedStats(window)),
    in_flight: deps.inFlight(),
  });

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
      const { records, next } = await history().executions(filterOf(query));
      return { executions: records.map(toView), next_cursor: next };
    },

    stats,

    async rerun(underwritingId: string, request: RerunRequest, by: OpsIdentity): Promise<{ key: string }> {
      const { earlier, processors } = rerunTarget(
        underwritingId,
        await executionsOf(underwritingId),
        request,
      );
      // The new execution's key, minted here: a redelivery of the request is the same execution.
      const key = ulid();
      const { event, attributes } = rerunRequest(earlier, key, {
        processors,
        requestedBy: by.email,
        reason: request.reason,
      });
      await deps.publishRerun(event, attributes);
      const selection = { underwriting_id: underwritingId, processors: request.processors };
      const result = { key, of: earlier.key, processors };
      await audit(auditEntry(by, 'rerun', underwritingId, request.reason, selection, result));
      return { key };
    },

    audit: async (query: AuditQuery) => auditPage(state(), query),

    ...createActions({
      state,
      pausesChanged: deps.pausesChanged ?? (() => Promise.resolve()),
      installed: deps.installed ?? (() => undefined),
      circuits: deps.circuits ?? (() => []),
      stats,
    }),

    ...createBulkReruns({ state, history, carrier: deps.carrier, owner: deps.owner ?? 'this instance' }),
  };
}

/** Every call with `LEDGER=none`: the operations state lives beside the ledger. */
const none = () =>
  new OrchestratorError(
    'OPS_UNAVAILABLE',
    'LEDGER=none: the operations views, pauses, bulk re-runs and the audit trail live beside the execution ledger, and there is none; set LEDGER=firestore (or memory)',
  );

/** A page of the audit trail, newest first, and where the next one starts. */
async function auditPage(state: OpsState, query: AuditQuery): Promise<AuditPage> {
  const entries = await state.audit.list({ limit: query.limit + 1, before: query.before });
  const page = entries.slice(0, query.limit);
  const next = entries.length > query.limit ? (page.at(-1)?.id ?? null) : null;
  return { entries: page, next_before: next, ...scopeOf(state.scope) };
}

const WINDOW_MS: Record<StatsWindow, number> = { '1h': 3_600_000, '24h': 86_400_000 };

/**
 * Each window's stats, read from the latest `statsSample` executions and served from memory for
 * `statsCacheMs` (a failed read is not kept).
 */
function statsCache(
  history: () => LedgerHistory,
  limits: { statsSample: number; statsCacheMs: number },
): (window: StatsWindow) => Promise<StatsView> {
  const cache = new Map<StatsWindow, { at: number; view: Promise<StatsView> }>();
  return (window) => {
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
    return view;
  };
}

/** The ledger's filter for a query of `GET /ops/executions`. */
function filterOf(query: ExecutionQuery): ExecutionFilter {
  return {
    status: query.status,
    processor: query.processor,
    outcome: query.outcome,
    errorCode: query.error_code,
    errorText: query.error,
    underwritingPrefix: query.underwriting,
    since: query.since,
    until: query.until,
    limit: query.limit,
    cursor: query.cursor,
  };
}

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
      job: record.rerun.job ?? null,
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
        error_code: run.errorCode,
        timeout_phase: run.timeoutPhase,
        reused: run.reused,
      }))
      .sort((a, b) => a.processor_id.localeCompare(b.processor_id)),
  };
}
