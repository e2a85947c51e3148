import { describe, expect, it } from 'vitest';

import {
  afterReading,
  afterRun,
  CPU_PROBE_MS,
  expectedSlotMs,
  HOT,
  loadAfterReading,
  modeOf,
  readSample,
  UNKNOWN,
  UNKNOWN_RUN_MS,
  type ProcessorRecord,
} from '../../src/processors/learning.js';
import type { Mode } from '../../src/processors/placement.js';

const record = (over: Partial<ProcessorRecord>): ProcessorRecord => ({ ...UNKNOWN, ...over });

describe('what the scheduler learns of a processor', () => {
  it.each<[string, ProcessorRecord | undefined, boolean, Mode]>([
    ['never seen: probed', undefined, false, 'probe'],
    ['known to wait: shares a thread', record({ kind: 'io' }), false, 'share'],
    ['known to compute: alone, and read again', record({ kind: 'cpu' }), false, 'alone'],
    ['short: fed to a thread of short runs', record({ kind: 'short' }), false, 'short'],
    ['isolated after a shared heap ran out: alone whatever it is', record({ kind: 'io' }), true, 'alone'],
  ])('places a run of a processor %s', (_name, known, isolated, mode) => {
    expect(modeOf(known, isolated)).toBe(mode);
  });

  it.each([
    ['an idle window says it waits', { windowElu: 0.1, activeSinceStartMs: 30 }, 'io'],
    [
      'a busy window after enough busy time says it computes',
      { windowElu: 0.9, activeSinceStartMs: CPU_PROBE_MS },
      'cpu',
    ],
    [
      'a busy window before that says nothing yet',
      { windowElu: 0.9, activeSinceStartMs: CPU_PROBE_MS - 1 },
      undefined,
    ],
  ])('reads a sample: %s', (_name, sample, kind) => {
    expect(readSample(sample)).toBe(kind);
  });

  it('learns short after three runs in a row that ended before they could be read', () => {
    let known: ProcessorRecord | undefined;
    for (let i = 0; i < 2; i++) known = afterRun(known, { mode: 'probe', ranMs: 2 });
    expect(known?.kind).toBeUndefined();
    known = afterRun(known, { mode: 'probe', ranMs: 3 });
    expect(known).toMatchObject({ kind: 'short', shortRuns: 3 });
  });

  it('learns short from three brief runs of a processor read as computing (a loaded machine can skew one reading)', () => {
    let known: ProcessorRecord | undefined = record({ kind: 'cpu' });
    for (let i = 0; i < 3; i++) known = afterRun(known, { mode: 'alone', ranMs: 2 });
    expect(known).toMatchObject({ kind: 'short', shortRuns: 3 });
    // A processor known to wait stays so, however brief its runs.
    expect(afterRun(record({ kind: 'io' }), { mode: 'share', ranMs: 1 }).kind).toBe('io');
  });

  it('does not count a run that was read, nor one that ran long, towards short', () => {
    let known = afterRun(undefined, { mode: 'probe', ranMs: 2 });
    known = afterRun(known, { mode: 'share', ranMs: 2 });
    expect(known).toMatchObject({ kind: undefined, shortRuns: 1 });
    known = afterRun(known, { mode: 'probe', ranMs: CPU_PROBE_MS });
    expect(known).toMatchObject({ kind: undefined, shortRuns: 0 });
  });

  it('makes a short processor unknown again when its runs turn long, not for one slow run', () => {
    expect(afterRun(record({ kind: 'short' }), { mode: 'short', ranMs: 50 }).kind).toBeUndefined();
    expect(afterRun(record({ kind: 'short' }), { mode: 'short', ranMs: 1 }).kind).toBe('short');
    // A 2 ms processor: one run of 20 ms (a thread kept off the CPU) leaves it short…
    const short = record({ kind: 'short', meanMs: 2 });
    expect(afterRun(short, { mode: 'short', ranMs: 20 })).toEqual({
      kind: 'short',
      shortRuns: 0,
      meanMs: 5.6,
    });
    // …a run of 50 ms does not, nor do runs of 15 ms in a row.
    expect(afterRun(short, { mode: 'short', ranMs: 50 }).kind).toBeUndefined();
    let known = short;
    const kinds: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) kinds.push((known = afterRun(known, { mode: 'short', ranMs: 15 })).kind);
    expect(kinds).toEqual(['short', 'short', 'short', 'short', undefined]);
    // Runs placed as short that end long once it is read again do not undo what the probes count.
    known = afterRun(known, { mode: 'probe', ranMs: 2 });
    known = afterRun(known, { mode: 'short', ranMs: 60 });
    expect(known).toMatchObject({ kind: undefined, shortRuns: 1 });
    for (let i = 0; i < 2; i++) known = afterRun(known, { mode: 'probe', ranMs: 2 });
    expect(known.kind).toBe('short');
  });

  it('keeps a mean run time, weighted towards the recent runs', () => {
    let known = afterRun(undefined, { mode: 'probe', ranMs: 100 });
    expect(known.meanMs).toBe(100);
    known = afterRun(known, { mode: 'alone', ranMs: 200 });
    expect(known.meanMs).toBe(120);
  });

  it('a reading sets the kind and forgets short runs', () => {
    expect(afterReading(record({ shortRuns: 2, meanMs: 4 }), 'io')).toEqual({
      kind: 'io',
      shortRuns: 0,
      meanMs: 4,
    });
  });

  it('a run read as computing makes its thread hot at once; a run read as waiting makes it as quiet as the window that read it', () => {
    expect(loadAfterReading(0.3, 'cpu', 0.9)).toBe(HOT);
    expect(loadAfterReading(0.9, 'cpu', 0.9)).toBe(0.9);
    expect(loadAfterReading(0.3, 'io', 0.4)).toBe(0.3);
    // Read as waiting from a quiet window: a load warmed by the thread's own start is let go.
    expect(loadAfterReading(0.8, 'io', 0.2)).toBe(0.2);
  });

  it.each<[string, ProcessorRecord | undefined, number]>([
    ['never run: what reading it takes', undefined, UNKNOWN_RUN_MS],
    [
      'not known yet, however long its runs took: what reading it takes',
      record({ meanMs: 3_000 }),
      UNKNOWN_RUN_MS,
    ],
    ['waits: no slot at all', record({ kind: 'io', meanMs: 3_000 }), 0],
    ['computes: its mean run time', record({ kind: 'cpu', meanMs: 200 }), 200],
    ['short: its mean run time', record({ kind: 'short', meanMs: 2 }), 2],
  ])('expects a run that %s to hold a CPU slot for that long', (_name, known, ms) => {
    expect(expectedSlotMs(known)).toBe(ms);
  });
});
