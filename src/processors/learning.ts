import type { Kind, Mode } from './placement.js';

/**
 * What a processor's runs teach the scheduler, as pure functions over explicit readings.
 *
 * A run not yet read (`probe` or `alone`) is read from its thread's event-loop utilization (ELU),
 * sampled on the main thread every `SAMPLE_MS`: the first sample after `execute` is called marks
 * its start; then a window whose ELU is below `HOT` says it waits, and `CPU_PROBE_MS` of busy loop
 * since its start says it computes. Loading a plugin the first time computes for a while, so
 * reading starts once `execute` is called.
 *
 * A run that ends before any reading could be taken is short; `SHORT_RUNS` of them make the
 * processor `short`, so its runs are fed to a thread a few at a time instead of one per round
 * trip. A short processor becomes unknown again once its runs turn long: a run of `CPU_PROBE_MS` or
 * more that brings its mean run time there (one run of a loaded machine, kept off the CPU or held
 * by a collection inside a 2 ms run, does not).
 */
export const SAMPLE_MS = 2;
export const CPU_PROBE_MS = 10;
/** ELU at or above which a thread is computing. */
export const HOT = 0.5;
/** Weight of the newest window in a thread's smoothed ELU. */
export const SMOOTHING = 0.3;
export const SHORT_RUNS = 3;
/** Run time assumed for a run of a processor whose runs were never timed. */
export const UNKNOWN_RUN_MS = CPU_PROBE_MS;
/** Weight of the newest run in a processor's mean run time. */
const MEAN_WEIGHT = 0.2;

/** What is known of one processor. */
export interface ProcessorRecord {
  kind: Kind | undefined;
  /** Runs in a row that ended before they could be read, while its kind was unknown. */
  shortRuns: number;
  /** Mean run time (exponentially weighted), in ms; undefined before its first run ends. */
  meanMs: number | undefined;
}

export const UNKNOWN: ProcessorRecord = { kind: undefined, shortRuns: 0, meanMs: undefined };

/** How an attempt of a processor is placed, from its record. */
export function modeOf(record: ProcessorRecord | undefined, isolated: boolean): Mode {
  if (isolated) return 'alone';
  switch (record?.kind) {
    case 'io':
      return 'share';
    case 'short':
      return 'short';
    case 'cpu':
      // Read again each run: a processor that computed once may wait the next time.
      return 'alone';
    case undefined:
      return 'probe';
  }
}

/** One sample of an unread run's thread: the last window's ELU, and busy time since the run's start. */
export interface Sample {
  windowElu: number;
  activeSinceStartMs: number;
}

/** What a sample says an unread run does, or undefined while it cannot tell yet. */
export function readSample(sample: Sample): Exclude<Kind, 'short'> | undefined {
  if (sample.windowElu < HOT) return 'io';
  if (sample.activeSinceStartMs >= CPU_PROBE_MS) return 'cpu';
  return undefined;
}

/** A thread's smoothed ELU after a window (0 while it hosts nothing). */
export function smoothLoad(load: number, windowElu: number, runs: number): number {
  return runs === 0 ? 0 : load + SMOOTHING * (windowElu - load);
}

/**
 * A thread's smoothed ELU once one of its runs was read as `kind`, `windowElu` being the window
 * that read it: a run read as computing was just measured hot, and holds its CPU slot from now,
 * however slowly the smoothed load catches up; a run read as waiting was read from a quiet window,
 * so the thread is as quiet as that window from now (what warmed its load before, its own start
 * and the plugin's first import, is over), and takes the runs that wait at once.
 */
export function loadAfterReading(load: number, kind: Kind, windowElu: number): number {
  return kind === 'cpu' ? Math.max(load, HOT) : Math.min(load, windowElu);
}

/** The record after a run was read as `kind`. */
export function afterReading(record: ProcessorRecord | undefined, kind: Kind): ProcessorRecord {
  return { ...(record ?? UNKNOWN), kind, shortRuns: 0 };
}

/**
 * The record after an attempt ended: its run time feeds the mean, and short runs teach `short`.
 * `mode` is the attempt's mode when it ended: still `probe` if it was never read.
 */
export function afterRun(
  record: ProcessorRecord | undefined,
  run: { mode: Mode; ranMs: number },
): ProcessorRecord {
  const known = record ?? UNKNOWN;
  const meanMs =
    known.meanMs === undefined ? run.ranMs : known.meanMs + MEAN_WEIGHT * (run.ranMs - known.meanMs);
  if (run.ranMs >= CPU_PROBE_MS) {
    // A short processor whose runs turned long is read again. Its mean decides: on a loaded machine
    // a run of 2 ms can take 20 ms of its thread, and a processor read again is placed as a probe,
    // a thread and a slot a run, until three short runs in a row make it short again. A run placed
    // as short that ends after its processor was read again tells nothing new: only the runs that
    // read it count, or a stall that made many runs long at once would keep it unknown.
    if (run.mode === 'short') {
      return known.kind === 'short' && meanMs >= CPU_PROBE_MS
        ? { kind: undefined, shortRuns: 0, meanMs }
        : { ...known, meanMs };
    }
    return { kind: known.kind, shortRuns: 0, meanMs };
  }
  // A run that ended before it could be read: not known, or known to compute from a reading a
  // loaded machine can skew (a thread kept off the CPU inside a brief run looks busy). The runs'
  // own times have the last word.
  if (known.kind !== 'io' && known.kind !== 'short' && (run.mode === 'probe' || run.mode === 'alone')) {
    const shortRuns = known.shortRuns + 1;
    return { kind: shortRuns >= SHORT_RUNS ? 'short' : undefined, shortRuns, meanMs };
  }
  return { ...known, meanMs };
}

/**
 * How long a run of this processor is expected to hold a CPU slot, in ms: 0 for one that waits,
 * its mean run time for one that computes or is short, and `UNKNOWN_RUN_MS` (what it takes to
 * read a run) for one not known yet.
 */
export function expectedSlotMs(record: ProcessorRecord | undefined): number {
  switch (record?.kind) {
    case 'io':
      return 0;
    case 'cpu':
    case 'short':
      return record.meanMs ?? UNKNOWN_RUN_MS;
    case undefined:
      return UNKNOWN_RUN_MS;
  }
}
