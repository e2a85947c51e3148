// The circuit breakers of this instance's processors: one state per processor that declares a
// `circuit` policy (circuit.ts decides), each change of state logged at WARNING (opened) or INFO,
// counted (`processor.circuit.transitions`) and added as an event to the span of the event whose
// run caused it.
//
// One circuit per processor, never shared by processors naming the same `concurrency.key`: a
// processor's failures may be its own (a bad release, a parsing bug), and a shared circuit would
// turn one processor's bug into an outage of every processor on that key. When an outside service
// is down, each of its processors trips after its own `minRuns`; pausing (fleet-wide) is the
// operator's tool for the whole vendor.
import { trace, type Context } from '@opentelemetry/api';

import type { Logger } from '../logging.js';
import type { CircuitPolicy } from '../processors/contract.js';
import type { Metrics } from '../telemetry/metrics.js';
import {
  CLOSED,
  admit,
  settle,
  windowTotals,
  type CircuitKind,
  type CircuitState,
  type Verdict,
} from './circuit.js';

/** A circuit as the operations views show it. */
export interface CircuitView {
  processor_id: string;
  state: CircuitKind;
  /** When it entered this state (ISO); `null` for a circuit closed since start. */
  since: string | null;
  /** While open: when the next run becomes the trial. */
  until: string | null;
  /** Runs and failures in the window now (closed), or those that opened it (open). */
  runs: number;
  failures: number;
  policy: CircuitPolicy;
}

export interface Circuits {
  /** Whether a run of `processorId` may call it now (`run` for a processor without a circuit). */
  admit(processorId: string, parent?: Context): { verdict: Verdict; refusal?: string };
  /** A run that was admitted ended: `failed` for FAILED or TIMEOUT (its final outcome, retries included). */
  settle(processorId: string, verdict: Verdict, failed: boolean, parent?: Context): void;
  view(): CircuitView[];
}

export interface CircuitDeps {
  policies: ReadonlyMap<string, CircuitPolicy>;
  log: Logger;
  metrics: Pick<Metrics, 'circuitTransitions'>;
  now?: () => number;
}

export function createCircuits(deps: CircuitDeps): Circuits {
  const now = deps.now ?? Date.now;
  const states = new Map<string, { state: CircuitState; since: number | null }>();
  for (const id of deps.policies.keys()) states.set(id, { state: CLOSED, since: null });

  function move(id: string, next: CircuitState, parent: Context | undefined): void {
    const held = states.get(id);
    const policy = deps.policies.get(id);
    if (!held || !policy) return;
    const before = held.state.kind;
    held.state = next;
    if (next.kind === before) return;
    held.since = now();
    const fields = {
      processor_id: id,
      circuit_from: before,
      circuit_state: next.kind,
      ...(next.kind === 'open' && {
        runs: next.runs,
        failures: next.failures,
        window_ms: policy.windowMs,
        until: new Date(next.until).toISOString(),
      }),
    };
    const message = {
      open: before === 'half_open' ? 'circuit opened again: the trial run failed' : 'circuit opened',
      half_open: 'circuit half-open: one trial run is let through',
      closed: 'circuit closed: the trial run completed',
    }[next.kind];
    if (next.kind === 'open') deps.log.warn(fields, message);
    else deps.log.info(fields, message);
    deps.metrics.circuitTransitions.add(1, { 'processor.id': id, 'circuit.state': next.kind });
    if (parent)
      trace.getSpan(parent)?.addEvent(`processor.circuit.${next.kind}`, {
        'processor.id': id,
        'circuit.from': before,
        ...(next.kind === 'open' && { 'circuit.runs': next.runs, 'circuit.failures': next.failures }),
      });
  }

  return {
    admit(processorId, parent) {
      const held = states.get(processorId);
      if (!held) return { verdict: 'run' };
      const at = now();
      const { verdict, next } = admit(held.state, at);
      const opened = held.state;
      move(processorId, next, parent);
      if (verdict !== 'refuse') return { verdict };
      return { verdict, refusal: refusal(opened, held.since) };
    },
    settle(processorId, verdict, failed, parent) {
      const held = states.get(processorId);
      const policy = deps.policies.get(processorId);
      if (!held || !policy || verdict === 'refuse') return;
      move(processorId, settle(held.state, policy, now(), { trial: verdict === 'trial', failed }), parent);
    },
    view() {
      const at = now();
      return [...states].map(([id, { state, since }]) => {
        const policy = deps.policies.get(id) as CircuitPolicy;
        const counted = state.kind === 'open' ? state : windowTotals(state, policy, at);
        return {
          processor_id: id,
          state: state.kind,
          since: since === null ? null : new Date(since).toISOString(),
          until: state.kind === 'open' ? new Date(state.until).toISOString() : null,
          runs: counted.runs,
          failures: counted.failures,
          policy,
        };
      });
    },
  };
}

/** The FAILED entry's message for a run the circuit refused. */
function refusal(state: CircuitState, since: number | null): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  if (state.kind === 'open') {
    const why = state.afterTrial
      ? 'the trial run failed'
      : `${state.failures} of ${state.runs} runs failed or timed out`;
    return `not called: circuit open since ${iso(state.openedAt)} (${why}); the next trial run is at ${iso(state.until)}`;
  }
  return `not called: circuit half-open since ${since === null ? 'start' : iso(since)}; its one trial run is in progress`;
}
