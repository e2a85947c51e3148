// Pausing and resuming processors, and the processors view (the page's banner and table).
import { OrchestratorError } from '../errors.js';
import type { OpsState, Pause } from '../ledger/ops-records.js';
import { auditEntry, scopeOf } from './audit-trail.js';
import type { CircuitView, OpsApi, OpsIdentity, PauseAnswer, ProcessorsView, StatsView } from './views.js';

export interface ActionDeps {
  state(): OpsState;
  /** This instance reads the pauses again now: its next event sees the change. */
  pausesChanged(): Promise<void>;
  /** Installed processors' ids; `undefined` while the service starts. */
  installed(): readonly string[] | undefined;
  circuits(): CircuitView[];
  stats: OpsApi['stats'];
}

export function createActions(deps: ActionDeps): Pick<OpsApi, 'pause' | 'resume' | 'processors'> {
  function installedIds(): readonly string[] {
    const ids = deps.installed();
    if (ids) return ids;
    throw new OrchestratorError(
      'OPS_UNAVAILABLE',
      'the service is starting: its processors are not loaded yet',
    );
  }

  return {
    async pause(processorId: string, reason: string, by: OpsIdentity): Promise<PauseAnswer> {
      const ids = installedIds();
      if (!ids.includes(processorId)) {
        throw new OrchestratorError(
          'NOT_FOUND',
          `processor ${processorId} is not installed (installed: ${ids.join(', ') || 'none'})`,
        );
      }
      const state = deps.state();
      const pause: Pause = {
        processor_id: processorId,
        paused_by: by.email,
        paused_at: new Date().toISOString(),
        reason,
      };
      const result = { paused_at: pause.paused_at, scope: state.scope };
      await state.pauses.pause(
        pause,
        auditEntry(by, 'pause', processorId, reason, { processors: [processorId] }, result),
      );
      await deps.pausesChanged();
      return { processor_id: processorId, pause, ...scopeOf(state.scope) };
    },

    async resume(processorId: string, reason: string | undefined, by: OpsIdentity): Promise<PauseAnswer> {
      const state = deps.state();
      const lifted = await state.pauses.resume(processorId, (was) =>
        auditEntry(
          by,
          'resume',
          processorId,
          reason,
          { processors: [processorId] },
          {
            lifted: { paused_by: was.paused_by, paused_at: was.paused_at, reason: was.reason },
            scope: state.scope,
          },
        ),
      );
      if (!lifted) throw new OrchestratorError('NOT_FOUND', `processor ${processorId} is not paused`);
      await deps.pausesChanged();
      return { processor_id: processorId, pause: lifted, ...scopeOf(state.scope) };
    },

    processors: () => processorsView(deps),
  };
}

function figuresOf(stats: StatsView, id: string): ProcessorsView['processors'][number]['last_hour'] {
  const found = stats.processors.find((p) => p.processor_id === id);
  if (!found) return null;
  const { runs, skipped, failed_rate, timeout_rate, p95_run_time } = found;
  return { runs, skipped, failed_rate, timeout_rate, p95_run_time };
}

/** Every processor installed, run or paused: its state, its pause and circuit, and its figures over 1 h and 24 h. */
async function processorsView(deps: ActionDeps): Promise<ProcessorsView> {
  const state = deps.state();
  const [hour, day, pauses] = await Promise.all([deps.stats('1h'), deps.stats('24h'), state.pauses.list()]);
  const circuits = deps.circuits();
  const installed = deps.installed() ?? [];
  const ids = [
    ...new Set([
      ...installed,
      ...day.processors.map((p) => p.processor_id),
      ...pauses.map((p) => p.processor_id),
    ]),
  ].sort();
  return {
    ...scopeOf(state.scope),
    as_of: new Date().toISOString(),
    in_flight: day.in_flight,
    samples: { '1h': hour.sample, '24h': day.sample },
    processors: ids.map((id) => {
      const pause = pauses.find((p) => p.processor_id === id) ?? null;
      const circuit = circuits.find((c) => c.processor_id === id) ?? null;
      return {
        processor_id: id,
        installed: installed.includes(id),
        state: pause
          ? 'paused'
          : circuit?.state === 'open'
            ? 'circuit_open'
            : circuit?.state === 'half_open'
              ? 'circuit_half_open'
              : 'active',
        pause,
        circuit,
        last_hour: figuresOf(hour, id),
        last_day: figuresOf(day, id),
      };
    }),
  };
}
