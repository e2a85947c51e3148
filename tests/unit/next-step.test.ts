import { describe, expect, it } from 'vitest';

import type { RetryPolicy } from '../../src/processors/contract.js';
import {
  backoffMs,
  firstAttempt,
  MAX_RESTARTS,
  nextStep,
  outcomeOf,
  threadEnded,
  type AttemptEnd,
  type RunState,
  type Step,
  type ThreadEndFacts,
} from '../../src/processors/next-step.js';

const retry: RetryPolicy = { attempts: 3, backoffMs: 100, maxBackoffMs: 1_000 };
const run = { timeoutMs: 1_000, retry };
const noRetry = { timeoutMs: 1_000 };

const at = (over: Partial<RunState> = {}): RunState => ({ ...firstAttempt(1_000), ...over });

const completed: AttemptEnd = {
  kind: 'result',
  result: { status: 'completed', factors: { a: 1 }, durationMs: 40 },
};
const signalled: AttemptEnd = { kind: 'result', result: { status: 'timeout', durationMs: 1_010 } };
const retryable = (retryAfterMs?: number): AttemptEnd => ({
  kind: 'result',
  result: {
    status: 'failed',
    error: 'busy',
    retryable: true,
    durationMs: 30,
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  },
});
const permanent: AttemptEnd = {
  kind: 'result',
  result: { status: 'failed', error: 'bad input', retryable: false, durationMs: 30 },
};
const terminated: AttemptEnd = { kind: 'terminated', durationMs: 1_200 };
const restart = (solo: boolean): AttemptEnd => ({ kind: 'restart', durationMs: 300, solo });
const died: AttemptEnd = {
  kind: 'thread-failed',
  durationMs: 20,
  error: 'the processor ended its worker thread with process.exit(3)',
};

const finish = (f: Extract<Step, { action: 'finish' }>['finish'], state: RunState): Step => ({
  action: 'finish',
  finish: f,
  state,
});

describe('the step after an attempt', () => {
  it.each<[string, RunState, AttemptEnd, { timeoutMs: number; retry?: RetryPolicy }, Step]>([
    [
      'a completed attempt ends the run with its factors',
      at(),
      completed,
      run,
      finish({ status: 'completed', factors: { a: 1 } }, at({ ranMs: 40 })),
    ],
    [
      'an attempt that settled after its signal is TIMEOUT in the signal phase, never retried',
      at(),
      signalled,
      run,
      finish({ status: 'timeout', phase: 'signal' }, at({ ranMs: 1_010 })),
    ],
    [
      'an attempt its deadline ended is TIMEOUT terminated, never retried',
      at(),
      terminated,
      run,
      finish({ status: 'timeout', phase: 'terminated' }, at({ ranMs: 1_200 })),
    ],
    [
      'a retryable failure is retried with the full timeout, after a backoff',
      at({ attempt: 1, timeLeftMs: 1_000 }),
      retryable(),
      run,
      { action: 'retry', waitMs: 50, state: at({ attempt: 2, failures: 1, ranMs: 30 }) },
    ],
    [
      'the backoff doubles with each failure',
      at({ attempt: 2, failures: 1, ranMs: 30 }),
      retryable(),
      run,
      { action: 'retry', waitMs: 100, state: at({ attempt: 3, failures: 2, ranMs: 60 }) },
    ],
    [
      'a retry after a restart runs alone no more and gets the full timeout again',
      at({ attempt: 2, restarts: 1, timeLeftMs: 400, solo: true, ranMs: 600 }),
      retryable(),
      run,
      { action: 'retry', waitMs: 50, state: at({ attempt: 3, restarts: 1, failures: 1, ranMs: 630 }) },
    ],
    [
      "a processor's retryAfterMs is waited instead, capped at maxBackoffMs",
      at(),
      retryable(5_000),
      run,
      { action: 'retry', waitMs: 1_000, state: at({ attempt: 2, failures: 1, ranMs: 30 }) },
    ],
    [
      'the last attempt the policy allows fails the run',
      at({ attempt: 3, failures: 2, ranMs: 60 }),
      retryable(),
      run,
      finish({ status: 'failed', error: 'busy' }, at({ attempt: 3, failures: 2, ranMs: 90 })),
    ],
    [
      'a failure that is not retryable fails the run at once',
      at(),
      permanent,
      run,
      finish({ status: 'failed', error: 'bad input' }, at({ ranMs: 30 })),
    ],
    [
      'without a retry policy a retryable failure fails the run',
      at(),
      retryable(),
      noRetry,
      finish({ status: 'failed', error: 'busy' }, at({ ranMs: 30 })),
    ],
    [
      'a run whose thread a neighbour ended starts again at once with the time it had left',
      at(),
      restart(false),
      run,
      { action: 'restart', state: at({ attempt: 2, restarts: 1, ranMs: 300, timeLeftMs: 700 }) },
    ],
    [
      'a run restarted when nobody could tell whose heap it was starts again alone',
      at(),
      restart(true),
      run,
      { action: 'restart', state: at({ attempt: 2, restarts: 1, ranMs: 300, timeLeftMs: 700, solo: true }) },
    ],
    [
      'a restart keeps at least 1 ms to run',
      at({ timeLeftMs: 200 }),
      restart(false),
      run,
      { action: 'restart', state: at({ attempt: 2, restarts: 1, ranMs: 300, timeLeftMs: 1 }) },
    ],
    [
      'a restart does not count against the retry policy',
      at({ attempt: 3, failures: 2 }),
      restart(false),
      run,
      { action: 'restart', state: at({ attempt: 4, failures: 2, restarts: 1, ranMs: 300, timeLeftMs: 700 }) },
    ],
    [
      `a run restarted ${MAX_RESTARTS} times fails at its next restart`,
      at({ attempt: MAX_RESTARTS + 1, restarts: MAX_RESTARTS, timeLeftMs: 100 }),
      restart(false),
      run,
      finish(
        { status: 'failed', error: 'its worker thread was ended by other runs, too often' },
        at({ attempt: MAX_RESTARTS + 1, restarts: MAX_RESTARTS, timeLeftMs: 100, ranMs: 300 }),
      ),
    ],
    [
      'a run that ended its own thread fails, never retried',
      at(),
      died,
      run,
      finish(
        { status: 'failed', error: 'the processor ended its worker thread with process.exit(3)' },
        at({ ranMs: 20 }),
      ),
    ],
  ])('%s', (_name, state, end, policy, expected) => {
    expect(nextStep(state, end, policy, 0.5)).toEqual(expected);
  });

  it('runs a whole run: two retryable failures, a restart, then success', () => {
    const ends = [retryable(), restart(false), retryable(), completed];
    let state = firstAttempt(1_000);
    const actions: string[] = [];
    for (const end of ends) {
      const step = nextStep(state, end, run, 0);
      actions.push(step.action);
      state = step.state;
      if (step.action === 'finish') {
        expect(outcomeOf(step, { processorId: 'p', executionId: 'e', timeoutMs: 1_000 })).toEqual({
          status: 'completed',
          processor_id: 'p',
          execution_id: 'e',
          execution_time: 0.4,
          attempts: 4,
          factors: { a: 1 },
        });
      }
    }
    expect(actions).toEqual(['retry', 'restart', 'retry', 'finish']);
  });

  it('names the timeout and its phase in a TIMEOUT outcome', () => {
    const step = nextStep(at({ attempt: 2, ranMs: 500 }), terminated, run, 0);
    if (step.action !== 'finish') throw new Error('expected the run to finish');
    expect(outcomeOf(step, { processorId: 'p', executionId: 'e', timeoutMs: 1_000 })).toEqual({
      status: 'timeout',
      processor_id: 'p',
      execution_id: 'e',
      execution_time: 1.7,
      attempts: 2,
      timeout_ms: 1_000,
      timeout_phase: 'terminated',
    });
  });
});

describe('whose fault a thread ending is', () => {
  const facts = (over: Partial<ThreadEndFacts>): ThreadEndFacts => ({
    aborted: false,
    innocent: false,
    hosted: 1,
    calledExit: false,
    end: { cause: 'error', message: 'boom' },
    durationMs: 10,
    maxHeapMb: 64,
    ...over,
  });
  const exit = { cause: 'exit', code: 3 } as const;
  const oom = { cause: 'out-of-memory' } as const;
  const exitFailure = 'the processor ended its worker thread with process.exit(3)';
  const oomFailure = 'the processor ran out of memory (worker heap limit 64 MB)';

  it.each<[string, Partial<ThreadEndFacts>, AttemptEnd]>([
    [
      'its own deadline ended it',
      { aborted: true, hosted: 5, end: exit },
      { kind: 'terminated', durationMs: 10 },
    ],
    [
      "another run's deadline ended it",
      { innocent: true, hosted: 5, end: exit },
      { kind: 'restart', durationMs: 10, solo: false },
    ],
    ['it ran out of heap alone', { end: oom }, { kind: 'thread-failed', durationMs: 10, error: oomFailure }],
    [
      'a shared heap ran out: start again alone',
      { hosted: 3, end: oom },
      { kind: 'restart', durationMs: 10, solo: true },
    ],
    [
      'it called process.exit',
      { hosted: 3, calledExit: true, end: exit },
      { kind: 'thread-failed', durationMs: 10, error: exitFailure },
    ],
    [
      'its thread exited while it ran alone',
      { end: exit },
      { kind: 'thread-failed', durationMs: 10, error: exitFailure },
    ],
    [
      'a neighbour called process.exit',
      { hosted: 3, end: exit },
      { kind: 'restart', durationMs: 10, solo: false },
    ],
    ['the thread failed otherwise', { hosted: 3 }, { kind: 'thread-failed', durationMs: 10, error: 'boom' }],
  ])('%s', (_name, over, expected) => {
    expect(threadEnded(facts(over))).toEqual(expected);
  });
});

describe('the backoff between retries', () => {
  it.each<[string, number, number | undefined, number, number]>([
    ['full jitter: a share of the base after the first failure', 1, undefined, 0.5, 50],
    ['doubles with each failure', 3, undefined, 1, 400],
    ['is capped at maxBackoffMs', 10, undefined, 1, 1_000],
    ['can be no wait at all', 2, undefined, 0, 0],
    ["waits the processor's retryAfterMs instead", 1, 250, 0, 250],
    ['caps retryAfterMs the same', 1, 60_000, 0, 1_000],
  ])('%s', (_name, failures, retryAfterMs, random, expected) => {
    expect(backoffMs(retry, failures, retryAfterMs, random)).toBe(expected);
  });
});
