// A processor's circuit breaker, as a pure state machine over explicit state and time: the shell
// (circuits.ts) keeps one state per processor, asks `admit` before a run and gives `settle` each
// run's final outcome, and logs, counts and traces every change of state.
//
//   closed ──(failures ≥ failureRate of ≥ minRuns runs ended in the last windowMs)──▶ open
//   open ──(openMs later, the next run is the trial)──▶ half_open
//   half_open ──(the trial completes)──▶ closed        (a fresh window)
//   half_open ──(the trial fails or times out)──▶ open (another openMs)
//
// While open, and while the trial runs, every other run is refused (fails at once with
// PROCESSOR_CIRCUIT_OPEN). A run admitted while closed that ends after the circuit opened is not
// counted: the circuit already decided. The window is kept in ten slices of windowMs / 10, so a
// run leaves it between windowMs and 1.1 × windowMs after it ended, and memory stays the same
// whatever the rate of runs.
import type { CircuitPolicy } from '../processors/contract.js';

/** Slices of the window: a run's outcome is counted in the slice in which it ended. */
export const CIRCUIT_SLICES = 10;

/** Runs and failures that ended in one slice of the window (`start` in epoch ms). */
export interface Slice {
  readonly start: number;
  readonly runs: number;
  readonly failures: number;
}

export type CircuitState =
  | { readonly kind: 'closed'; readonly slices: readonly Slice[] }
  | {
      readonly kind: 'open';
      readonly openedAt: number;
      /** When the next run becomes the trial. */
      readonly until: number;
      /** What opened it: the runs and failures of the window then, or the trial run that failed. */
      readonly runs: number;
      readonly failures: number;
      readonly afterTrial: boolean;
    }
  | { readonly kind: 'half_open'; readonly trialAt: number };

export type CircuitKind = CircuitState['kind'];

export const CLOSED: CircuitState = { kind: 'closed', slices: [] };

/** What `admit` decided: call the processor (`run`), call it as the one `trial`, or `refuse`. */
export type Verdict = 'run' | 'trial' | 'refuse';

/** Whether a run may call the processor at `now`, and the state after asking. */
export function admit(state: CircuitState, now: number): { verdict: Verdict; next: CircuitState } {
  switch (state.kind) {
    case 'closed':
      return { verdict: 'run', next: state };
    case 'open':
      return now < state.until
        ? { verdict: 'refuse', next: state }
        : { verdict: 'trial', next: { kind: 'half_open', trialAt: now } };
    case 'half_open':
      return { verdict: 'refuse', next: state };
  }
}

/** The state after a run that was admitted (`trial`: it was the trial) ended at `now`. */
export function settle(
  state: CircuitState,
  policy: CircuitPolicy,
  now: number,
  run: { trial: boolean; failed: boolean },
): CircuitState {
  if (state.kind === 'half_open') {
    if (!run.trial) return state;
    return run.failed ? opened(policy, now, 1, 1, true) : CLOSED;
  }
  if (state.kind === 'open') return state;
  const slices = counted(window(state.slices, policy, now), policy, now, run.failed);
  const { runs, failures } = totals(slices);
  if (runs >= policy.minRuns && failures / runs >= policy.failureRate) {
    return opened(policy, now, runs, failures, false);
  }
  return { kind: 'closed', slices };
}

/** Runs and failures in the window at `now` (what the page shows of a closed circuit). */
export function windowTotals(
  state: CircuitState,
  policy: CircuitPolicy,
  now: number,
): { runs: number; failures: number } {
  return state.kind === 'closed' ? totals(window(state.slices, policy, now)) : { runs: 0, failures: 0 };
}

function opened(
  policy: CircuitPolicy,
  now: number,
  runs: number,
  failures: number,
  afterTrial: boolean,
): CircuitState {
  return { kind: 'open', openedAt: now, until: now + policy.openMs, runs, failures, afterTrial };
}

const sliceMs = (policy: CircuitPolicy) => Math.max(1, policy.windowMs / CIRCUIT_SLICES);

/** The slices still (partly) inside the window ending at `now`. */
function window(slices: readonly Slice[], policy: CircuitPolicy, now: number): readonly Slice[] {
  const width = sliceMs(policy);
  return slices.filter((s) => s.start + width > now - policy.windowMs);
}

function counted(slices: readonly Slice[], policy: CircuitPolicy, now: number, failed: boolean): Slice[] {
  const width = sliceMs(policy);
  const start = Math.floor(now / width) * width;
  const last = slices.at(-1);
  const add = { runs: 1, failures: failed ? 1 : 0 };
  if (last && last.start === start) {
    return [
      ...slices.slice(0, -1),
      { start, runs: last.runs + add.runs, failures: last.failures + add.failures },
    ];
  }
  return [...slices, { start, ...add }];
}

function totals(slices: readonly Slice[]): { runs: number; failures: number } {
  let runs = 0;
  let failures = 0;
  for (const s of slices) {
    runs += s.runs;
    failures += s.failures;
  }
  return { runs, failures };
}
