// Whether a processor is called at all: not while an operator has paused it (fleet-wide), not
// while its circuit breaker is open (this instance). The orchestrator asks before each run and
// reports each run's final outcome; a run not called is a FAILED entry with a stable code and a
// message saying why, at once, with no request to the processor's outside service.
import type { Context } from '@opentelemetry/api';

import type { FailureCode } from '../events/processing-completed.js';
import type { Pause } from '../ledger/ops-records.js';
import type { RunOutcome } from '../processors/run.js';
import type { Verdict } from './circuit.js';
import type { CircuitView, Circuits } from './circuits.js';
import { NO_PAUSES, type PauseReader } from './pause-cache.js';

/** What the guard decided for one run. */
export type Gate =
  | { call: true; verdict: Exclude<Verdict, 'refuse'> }
  | {
      call: false;
      code: Extract<FailureCode, 'PROCESSOR_PAUSED' | 'PROCESSOR_CIRCUIT_OPEN'>;
      message: string;
    };

export interface Guard {
  /** The pauses in force (a cached read, see pause-cache.ts): read once per event, before its runs. */
  pauses(): Promise<ReadonlyMap<string, Pause>>;
  /** Decides at once, so that every run of an event is asked of the pool in the same turn. */
  admit(processorId: string, pauses: ReadonlyMap<string, Pause>, parent?: Context): Gate;
  /** A run that was called ended with `outcome` (after every retry). */
  settle(processorId: string, gate: Gate, outcome: RunOutcome, parent?: Context): void;
  /** This instance's circuits (for the operations views). */
  circuits(): CircuitView[];
  /**
   * Reads the pauses from `reader` from now on (none until then): the service sets it once its
   * ledger is open, before it hands the runtime any event (`serve` starts the runtime first).
   */
  readPauses(reader: PauseReader): void;
}

export function createGuard(deps: { pauses?: PauseReader; circuits: Circuits }): Guard {
  let pauses = deps.pauses ?? NO_PAUSES;
  const { circuits } = deps;
  return {
    pauses: () => pauses.current(),
    readPauses(reader) {
      pauses = reader;
    },
    admit(processorId, paused, parent) {
      const pause = paused.get(processorId);
      if (pause) {
        return {
          call: false,
          code: 'PROCESSOR_PAUSED',
          message: `not called: paused by ${pause.paused_by} at ${pause.paused_at}: ${pause.reason}`,
        };
      }
      const { verdict, refusal } = circuits.admit(processorId, parent);
      if (verdict === 'refuse') {
        return {
          call: false,
          code: 'PROCESSOR_CIRCUIT_OPEN',
          message: refusal ?? 'not called: circuit open',
        };
      }
      return { call: true, verdict };
    },
    settle(processorId, gate, outcome, parent) {
      if (!gate.call) return;
      circuits.settle(processorId, gate.verdict, outcome.status !== 'completed', parent);
    },
    circuits: () => circuits.view(),
  };
}
