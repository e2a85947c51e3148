import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { givenHost } from '../../bench/emulators.js';
import { MEASURES } from '../../bench/measures.js';
import { interleavedRounds, roundOrder, roundsOf } from '../../bench/rounds.js';
import { boundTarget, quotientRow, resultsTable, row } from '../../bench/table.js';

describe('bench rounds harness', () => {
  it('runs the sides in the given order in odd rounds and reversed in even ones', () => {
    expect([1, 2, 3, 4].map((round) => roundOrder(['relay', 'serve', 'relay-defaults'], round))).toEqual([
      ['relay', 'serve', 'relay-defaults'],
      ['relay-defaults', 'serve', 'relay'],
      ['relay', 'serve', 'relay-defaults'],
      ['relay-defaults', 'serve', 'relay'],
    ]);
  });

  it('runs the warm-up first, uncounted, then every side once a round in alternating order', async () => {
    const calls: string[] = [];
    const lines: string[] = [];
    const rounds = await interleavedRounds({
      sides: ['off', 'on'] as const,
      rounds: 3,
      warmup: ['on'],
      run: (side, round) => {
        calls.push(`${side}@${round}`);
        return Promise.resolve({ side, round });
      },
      progress: {
        say: (line) => lines.push(line),
        label: 'telemetry',
        show: (side, r) => `${side} ${r.round}`,
      },
    });
    expect(calls).toEqual(['on@0', 'off@1', 'on@1', 'on@2', 'off@2', 'off@3', 'on@3']);
    expect(rounds.runs.off.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(rounds.runs.on.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(lines).toEqual([
      'telemetry: warm-up of on, not counted',
      'telemetry round 1/3: off 1, on 1',
      'telemetry round 2/3: off 2, on 2',
      'telemetry round 3/3: off 3, on 3',
    ]);
  });

  it('takes the median of each side over the rounds, and the median of the rounds own ratios', () => {
    const rounds = roundsOf({ on: [90, 50, 100], off: [100, 100, 100] });
    const same = (n: number) => n;
    expect(rounds.median('on', same)).toBe(90);
    expect(rounds.median('off', same)).toBe(100);
    expect(rounds.medianRatio('on', 'off', same)).toBe(0.9);
    // Per-round ratios differ from the ratio of the medians when the rounds swing together.
    const swinging = roundsOf({ on: [45, 90, 180], off: [50, 200, 200] });
    expect(swinging.medianRatio('on', 'off', same)).toBe(0.9);
    expect(swinging.median('on', same) / swinging.median('off', same)).toBe(0.45);
    expect(swinging.summary(same, String)).toBe('on 45, 90, 180; off 50, 200, 200');
  });
});

describe('bench emulators', () => {
  it('uses the emulator its variable names, and starts one when it is unset or empty', () => {
    const env = { PUBSUB_EMULATOR_HOST: '127.0.0.1:8085', FIRESTORE_EMULATOR_HOST: '' };
    expect(givenHost('pubsub', env)).toBe('127.0.0.1:8085');
    expect(givenHost('firestore', env)).toBeUndefined();
    expect(givenHost('firestore', {})).toBeUndefined();
    expect(givenHost('firestore', { FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080' })).toBe('127.0.0.1:8080');
  });
});

describe('bench rows', () => {
  it('names a row by its measure, then the run detail, then its letter code', () => {
    expect(
      row(MEASURES.pullVsRelay, { detail: 'burst of 3000', ours: '1,240', baseline: '6,635', ratio: '0.19' }),
    ).toEqual({
      measure: 'pull throughput vs bare relay: burst of 3000 [d]',
      ours: '1,240',
      baseline: '6,635',
      ratio: '0.19',
      target: '-',
      verdict: 'info',
    });
    expect(row(MEASURES.backlogReady, { ours: '0.80 s' }).measure).toBe('backlog through pull, start-up');
  });

  it('says MET, MISSED, info or ERROR from the target and whether the case broke', () => {
    const verdictOf = (figures: Parameters<typeof row>[1]) => row(MEASURES.documentFetch, figures).verdict;
    expect(verdictOf({ ours: '1', target: { text: '<= 1.2', met: true } })).toBe('MET');
    expect(verdictOf({ ours: '1', target: { text: '<= 1.2', met: false } })).toBe('MISSED');
    expect(verdictOf({ ours: '1', target: { text: '<= 2 cores' } })).toBe('info');
    expect(verdictOf({ ours: '1' })).toBe('info');
    expect(verdictOf({ ours: 'emulator gone', broke: true })).toBe('ERROR');
  });

  it('computes a quotient row as ours / baseline with two decimals, against an at-least or at-most bound', () => {
    const int = (n: number) => Math.round(n).toLocaleString('en-US');
    expect(
      quotientRow(MEASURES.poolThroughput, {
        detail: 'events/s (median of 3)',
        ours: 5252,
        baseline: 4915,
        show: int,
        bound: { atLeast: 0.8 },
      }),
    ).toEqual({
      measure: 'orchestration throughput vs raw Piscina: events/s (median of 3) [a]',
      ours: '5,252',
      baseline: '4,915',
      ratio: '1.07',
      target: '>= 0.8',
      verdict: 'MET',
    });
    expect(quotientRow(MEASURES.pullVsLibraryRelay, { ours: 1240, baseline: 6021, show: int })).toMatchObject(
      {
        ratio: '0.21',
        target: '-',
        verdict: 'info',
      },
    );
    expect(boundTarget(1.23, { atMost: 1.2 })).toEqual({ text: '<= 1.2', met: false });
    expect(boundTarget(0.8, { atLeast: 0.8 })).toEqual({ text: '>= 0.8', met: true });
  });

  it('prints the rows as a table with the figures right-aligned', () => {
    const table = resultsTable([
      row(MEASURES.firestoreWrites, { ours: '3.00', target: { text: '<= 3', met: true } }),
      row(MEASURES.firestoreReads, { ours: '0.001', target: { text: '<= 2', met: true } }),
    ]);
    expect(table.split('\n').slice(2, 4)).toEqual([
      "Firestore writes per event [h'']   3.00         -      -  <= 3    MET",
      "Firestore reads per event [h'']   0.001         -      -  <= 2    MET",
    ]);
  });

  it('lists every named measure with its letter code on the benchmarks page, and no code it does not alias', () => {
    const page = readFileSync(new URL('../../docs/benchmarks.md', import.meta.url), 'utf8');
    const listed = [...page.matchAll(/^\| ([^|]+?) +\| \(([a-z]'*)\) *\|$/gm)].map(
      (m) => `${m[1]} (${m[2]})`,
    );
    const aliased = Object.values(MEASURES).flatMap((m) => ('alias' in m ? [`${m.name} (${m.alias})`] : []));
    expect(listed.sort()).toEqual(aliased.sort());
    const quoted = new Set([...page.matchAll(/\*\*\(([a-z]'*)\)\*\*/g)].map((m) => m[1]));
    const codes = new Set(Object.values(MEASURES).flatMap((m) => ('alias' in m ? [m.alias] : [])));
    expect([...quoted].sort()).toEqual([...codes].sort());
  });
});
