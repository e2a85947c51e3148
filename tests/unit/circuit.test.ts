import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';

import {
  CLOSED,
  admit,
  settle,
  windowTotals,
  type CircuitState,
  type Verdict,
} from '../../src/guard/circuit.js';
import { createCircuits } from '../../src/guard/circuits.js';
import { CircuitPolicySchema, type CircuitPolicy } from '../../src/processors/contract.js';
import { capturingLog } from '../helpers/fixtures.js';

const POLICY: CircuitPolicy = { failureRate: 0.5, minRuns: 4, windowMs: 10_000, openMs: 5_000 };

/** A closed circuit with these outcomes ended at these times (true: failed). */
function closedWith(runs: [number, boolean][], policy = POLICY): CircuitState {
  return runs.reduce<CircuitState>(
    (state, [at, failed]) => settle(state, policy, at, { trial: false, failed }),
    CLOSED,
  );
}

const open = (at: number, runs = 4, failures = 2, afterTrial = false): CircuitState => ({
  kind: 'open',
  openedAt: at,
  until: at + POLICY.openMs,
  runs,
  failures,
  afterTrial,
});

describe('the circuit breaker state machine', () => {
  it.each<[string, CircuitState, number, Verdict, CircuitState['kind']]>([
    ['a closed circuit lets every run through', CLOSED, 0, 'run', 'closed'],
    ['an open circuit refuses runs before openMs', open(1_000), 5_999, 'refuse', 'open'],
    ['an open circuit makes the first run at openMs the trial', open(1_000), 6_000, 'trial', 'half_open'],
    [
      'a half-open circuit refuses every run but its trial',
      { kind: 'half_open', trialAt: 6_000 },
      7_000,
      'refuse',
      'half_open',
    ],
  ])('admit: %s', (_case, state, now, verdict, next) => {
    const decided = admit(state, now);
    expect(decided.verdict).toBe(verdict);
    expect(decided.next.kind).toBe(next);
  });

  it.each<[string, [number, boolean][], CircuitState['kind']]>([
    [
      'stays closed below minRuns, all failing',
      [
        [0, true],
        [1, true],
        [2, true],
      ],
      'closed',
    ],
    [
      'opens at minRuns when the failure rate reaches failureRate',
      [
        [0, true],
        [1, false],
        [2, true],
        [3, false],
      ],
      'open',
    ],
    [
      'stays closed under failureRate',
      [
        [0, true],
        [1, false],
        [2, false],
        [3, false],
      ],
      'closed',
    ],
    [
      'forgets runs that ended before the window (and its slice)',
      [
        [0, true],
        [100, true],
        [11_100, true],
        [11_200, false],
        [11_300, false],
        [11_400, false],
      ],
      'closed',
    ],
    [
      'counts a run up to a tenth of the window late (its slice)',
      [
        [0, true],
        [100, true],
        [10_500, true],
        [10_600, false],
      ],
      'open',
    ],
    [
      'counts runs across the window',
      [
        [0, false],
        [2_000, true],
        [4_000, true],
        [9_000, false],
      ],
      'open',
    ],
  ])('settle while closed: %s', (_case, runs, kind) => {
    expect(closedWith(runs).kind).toBe(kind);
  });

  it.each<[string, CircuitState, { trial: boolean; failed: boolean }, CircuitState['kind']]>([
    [
      'the trial completing closes it',
      { kind: 'half_open', trialAt: 6_000 },
      { trial: true, failed: false },
      'closed',
    ],
    [
      'the trial failing opens it again',
      { kind: 'half_open', trialAt: 6_000 },
      { trial: true, failed: true },
      'open',
    ],
    [
      'a late run admitted before it opened changes nothing while half-open',
      { kind: 'half_open', trialAt: 6_000 },
      { trial: false, failed: false },
      'half_open',
    ],
    ['a late run changes nothing while open', open(1_000), { trial: false, failed: false }, 'open'],
  ])('settle: %s', (_case, state, run, kind) => {
    expect(settle(state, POLICY, 7_000, run).kind).toBe(kind);
  });

  it('opens again for another openMs after a failed trial, and starts a fresh window when it closes', () => {
    const again = settle({ kind: 'half_open', trialAt: 6_000 }, POLICY, 7_000, { trial: true, failed: true });
    expect(again).toEqual(open(7_000, 1, 1, true));
    const closed = settle({ kind: 'half_open', trialAt: 6_000 }, POLICY, 7_000, {
      trial: true,
      failed: false,
    });
    expect(windowTotals(closed, POLICY, 7_000)).toEqual({ runs: 0, failures: 0 });
  });

  it('keeps ten slices of the window at most, whatever the number of runs', () => {
    let state: CircuitState = CLOSED;
    for (let at = 0; at < 100_000; at += 7)
      state = settle(state, POLICY, at, { trial: false, failed: at % 3 === 0 && at < 5 });
    expect(state.kind).toBe('closed');
    if (state.kind === 'closed') expect(state.slices.length).toBeLessThanOrEqual(11);
    expect(windowTotals(state, POLICY, 100_000).runs).toBeGreaterThan(1_400);
  });

  it('validates the policy at discovery, naming what is wrong', () => {
    expect(CircuitPolicySchema.safeParse(POLICY).success).toBe(true);
    for (const bad of [
      { ...POLICY, failureRate: 0 },
      { ...POLICY, failureRate: 1.5 },
      { ...POLICY, minRuns: 0 },
      { ...POLICY, windowMs: 10 },
      { ...POLICY, openMs: 'soon' },
      { ...POLICY, extra: 1 },
      { failureRate: 0.5 },
    ]) {
      expect(CircuitPolicySchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('the circuits of an instance', () => {
  const counted: Record<string, unknown>[] = [];
  const metrics = {
    circuitTransitions: {
      add: (_n: number, attributes: Record<string, unknown>) => counted.push(attributes),
    },
  };

  it('opens after the configured failures, fails fast while open, lets one trial through, and closes; logging and counting each change', () => {
    let now = 1_000;
    const { log, lines } = capturingLog();
    const circuits = createCircuits({
      policies: new Map([['p_v1', POLICY]]),
      log,
      metrics: metrics as never,
      now: () => now,
    });
    const runOnce = (failed: boolean) => {
      const { verdict } = circuits.admit('p_v1');
      if (verdict !== 'refuse') circuits.settle('p_v1', verdict, failed);
      return verdict;
    };
    expect([runOnce(true), runOnce(true), runOnce(false), runOnce(true)]).toEqual([
      'run',
      'run',
      'run',
      'run',
    ]);
    expect(circuits.view()[0]).toMatchObject({ state: 'open', runs: 4, failures: 3 });
    const refused = circuits.admit('p_v1');
    expect(refused.verdict).toBe('refuse');
    expect(refused.refusal).toMatch(
      /^not called: circuit open since .* \(3 of 4 runs failed or timed out\); the next trial run is at /,
    );

    now += POLICY.openMs;
    const trial = circuits.admit('p_v1');
    expect(trial.verdict).toBe('trial');
    // While the trial runs, nothing else is let through.
    const during = circuits.admit('p_v1');
    expect(during.verdict).toBe('refuse');
    expect(during.refusal).toContain('its one trial run is in progress');
    circuits.settle('p_v1', 'trial', false);
    expect(circuits.view()[0]).toMatchObject({ state: 'closed', runs: 0 });
    expect(runOnce(true)).toBe('run');

    expect(
      lines
        .filter((l) => String(l['message']).startsWith('circuit'))
        .map((l) => [l['message'], l['severity']]),
    ).toEqual([
      ['circuit opened', 'WARNING'],
      ['circuit half-open: one trial run is let through', 'INFO'],
      ['circuit closed: the trial run completed', 'INFO'],
    ]);
    expect(counted.map((a) => a['circuit.state'])).toEqual(['open', 'half_open', 'closed']);
    // A processor without a circuit is always called.
    expect(circuits.admit('other_v1').verdict).toBe('run');
  });

  it('adds each change of state to the span of the event whose run caused it', () => {
    const exporter = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer(
      't',
    );
    let now = 0;
    const circuits = createCircuits({
      policies: new Map([['p_v1', { ...POLICY, minRuns: 1 }]]),
      log: capturingLog().log,
      metrics: metrics as never,
      now: () => now,
    });
    const event = tracer.startSpan('underwriting.created process');
    const ctx = trace.setSpan(ROOT_CONTEXT, event);
    circuits.settle('p_v1', circuits.admit('p_v1', ctx).verdict, true, ctx);
    now += POLICY.openMs;
    circuits.settle('p_v1', circuits.admit('p_v1', ctx).verdict, false, ctx);
    event.end();
    const [span] = exporter.getFinishedSpans();
    expect(
      span?.events.map((e) => [e.name, e.attributes?.['processor.id'], e.attributes?.['circuit.from']]),
    ).toEqual([
      ['processor.circuit.open', 'p_v1', 'closed'],
      ['processor.circuit.half_open', 'p_v1', 'open'],
      ['processor.circuit.closed', 'p_v1', 'half_open'],
    ]);
  });
});
