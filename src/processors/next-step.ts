import type { RetryPolicy } from './contract.js';
import type { ThreadEnd } from './piscina-adapter.js';
import { seconds, type RunOutcome, type ThreadResult, type TimeoutPhase } from './run.js';

/**
 * What happens to a run after one of its attempts ends: it is over (completed, failed, timed
 * out), retried after a backoff by its processor's `retry` policy, or started again at once with
 * the time it had left because a neighbour ended the thread they shared. Pure: the pool
 * (`pool.ts`) carries the step out.
 */

/** Most times a run is started again because a neighbour ended its thread. */
export const MAX_RESTARTS = 3;

/** How one attempt ended, before the retry and restart rules look at it. */
export type AttemptEnd =
  /** The thread answered. */
  | { kind: 'result'; result: ThreadResult }
  /** Its deadline ended the thread. */
  | { kind: 'terminated'; durationMs: number }
  /** A neighbour ended the thread: start it again (`solo`: alone, when nobody can tell whose fault). */
  | { kind: 'restart'; durationMs: number; solo: boolean }
  /** It ended its own thread (`process.exit`, or its heap when it ran alone), or the thread failed. */
  | { kind: 'thread-failed'; durationMs: number; error: string };

/** Where a run stands when an attempt starts. */
export interface RunState {
  /** This attempt's number, from 1. */
  attempt: number;
  /** Failed attempts so far (what the retry policy counts). */
  failures: number;
  /** Restarts so far (a neighbour ended the thread). */
  restarts: number;
  /** Run time over the attempts that ended, in ms. */
  ranMs: number;
  /** This attempt's deadline: the run's timeout, or what is left of it on a restart. */
  timeLeftMs: number;
  /** This attempt runs alone on its thread. */
  solo: boolean;
}

/** How a run ended. */
export type Finish =
  | { status: 'completed'; factors: Extract<ThreadResult, { status: 'completed' }>['factors'] }
  | { status: 'failed'; error: string }
  | { status: 'timeout'; phase: TimeoutPhase };

export type Step =
  | { action: 'finish'; finish: Finish; state: RunState }
  /** Wait `waitMs` (its slot and concurrency key released), then attempt again with the full timeout. */
  | { action: 'retry'; waitMs: number; state: RunState }
  /** Attempt again at once, with the time it had left. */
  | { action: 'restart'; state: RunState };

export function firstAttempt(timeoutMs: number): RunState {
  return { attempt: 1, failures: 0, restarts: 0, ranMs: 0, timeLeftMs: timeoutMs, solo: false };
}

/**
 * The step after an attempt. `run` is the run's timeout and its processor's retry policy;
 * `random` in [0, 1) draws the backoff's jitter.
 */
export function nextStep(
  state: RunState,
  end: AttemptEnd,
  run: { timeoutMs: number; retry?: RetryPolicy | undefined },
  random: number,
): Step {
  const durationMs = end.kind === 'result' ? end.result.durationMs : end.durationMs;
  const ended: RunState = { ...state, ranMs: state.ranMs + durationMs };
  const finish = (f: Finish): Step => ({ action: 'finish', finish: f, state: ended });
  switch (end.kind) {
    case 'restart':
      if (state.restarts >= MAX_RESTARTS)
        return finish({ status: 'failed', error: 'its worker thread was ended by other runs, too often' });
      return {
        action: 'restart',
        state: {
          ...ended,
          attempt: state.attempt + 1,
          restarts: state.restarts + 1,
          timeLeftMs: Math.max(1, state.timeLeftMs - durationMs),
          solo: end.solo,
        },
      };
    case 'thread-failed':
      return finish({ status: 'failed', error: end.error });
    case 'terminated':
      return finish({ status: 'timeout', phase: 'terminated' });
    case 'result':
      break;
  }
  const { result } = end;
  if (result.status === 'completed') return finish({ status: 'completed', factors: result.factors });
  if (result.status === 'timeout') return finish({ status: 'timeout', phase: 'signal' });
  const failures = state.failures + 1;
  if (!result.retryable || !run.retry || failures >= run.retry.attempts) {
    return finish({ status: 'failed', error: result.error });
  }
  return {
    action: 'retry',
    waitMs: backoffMs(run.retry, failures, result.retryAfterMs, random),
    state: { ...ended, attempt: state.attempt + 1, failures, timeLeftMs: run.timeoutMs, solo: false },
  };
}

/** What the pool knows when an attempt's thread ended under it. */
export interface ThreadEndFacts {
  /** Its own deadline ended the thread. */
  aborted: boolean;
  /** Another run's deadline ended the thread (it was told before the abort). */
  innocent: boolean;
  /** Runs the thread hosted when it died, counting this one (1 when unknown). */
  hosted: number;
  /** The thread's run table says this attempt called `process.exit`. */
  calledExit: boolean;
  /** What the thread pool says ended the thread. */
  end: ThreadEnd;
  /** The run time of the attempt, in ms. */
  durationMs: number;
  /** The threads' heap limit, for the message. */
  maxHeapMb: number;
}

/**
 * Whose fault a thread's end is: the attempt's own (its deadline, its `process.exit`, or its heap
 * when it ran alone), or a neighbour's (started again: elsewhere, or alone when nobody can tell
 * which run exhausted a shared heap).
 */
export function threadEnded(facts: ThreadEndFacts): AttemptEnd {
  const { durationMs, end } = facts;
  if (facts.aborted) return { kind: 'terminated', durationMs };
  if (facts.innocent) return { kind: 'restart', durationMs, solo: false };
  const shared = facts.hosted > 1;
  if (end.cause === 'out-of-memory') {
    if (shared) return { kind: 'restart', durationMs, solo: true };
    const error = `the processor ran out of memory (worker heap limit ${facts.maxHeapMb} MB)`;
    return { kind: 'thread-failed', durationMs, error };
  }
  if (end.cause === 'exit') {
    if (facts.calledExit || !shared) {
      const error = `the processor ended its worker thread with process.exit(${end.code})`;
      return { kind: 'thread-failed', durationMs, error };
    }
    return { kind: 'restart', durationMs, solo: false };
  }
  return { kind: 'thread-failed', durationMs, error: end.message };
}

/**
 * Full jitter: `random` (in [0, 1)) of `backoffMs × 2^(n−1)`, capped at `maxBackoffMs`; a
 * processor's `retryAfterMs` is waited instead, capped the same.
 */
export function backoffMs(
  policy: RetryPolicy,
  failures: number,
  retryAfterMs: number | undefined,
  random: number,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxBackoffMs);
  const ceiling = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (failures - 1));
  return random * ceiling;
}

/** The outcome a finished run publishes. */
export function outcomeOf(
  { finish, state }: Extract<Step, { action: 'finish' }>,
  run: { processorId: string; executionId: string; timeoutMs: number },
): RunOutcome {
  const done = {
    processor_id: run.processorId,
    execution_id: run.executionId,
    execution_time: seconds(state.ranMs),
    attempts: state.attempt,
  };
  switch (finish.status) {
    case 'completed':
      return { status: 'completed', ...done, factors: finish.factors };
    case 'failed':
      return { status: 'failed', ...done, error_message: finish.error };
    case 'timeout':
      return { status: 'timeout', ...done, timeout_ms: run.timeoutMs, timeout_phase: finish.phase };
  }
}
