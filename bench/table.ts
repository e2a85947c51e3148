import { formatTable } from '../src/commands/table.js';

export interface Row {
  measure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}

/**
 * What a row measures, declared once (see measures.ts): its name in words, and the letter code
 * docs/benchmarks.md and the issues quote it by, where they do.
 */
export interface Measure {
  readonly name: string;
  /** `d`, `l'`: printed after the name in brackets, `[d]`. */
  readonly alias?: string;
}

/** What one run measured for a row, already in words and units. */
export interface Figures {
  /** What this run adds to the name: sizes, rounds, the case's parameters. */
  detail?: string;
  ours: string;
  /** `-` when there is none. */
  baseline?: string;
  ratio?: string;
  /**
   * The target and whether the run met it. Without one, or without `met` (a bound to read the
   * figure against, not checked), the row is `info`.
   */
  target?: { text: string; met?: boolean };
  /** The case broke: the row says why instead of a figure (verdict ERROR). */
  broke?: boolean;
}

/** The one way a row is made: the measure's name (and alias), then the figures. */
export function row(measure: Measure, figures: Figures): Row {
  const { detail, ours, baseline = '-', ratio = '-', target, broke = false } = figures;
  const alias = measure.alias === undefined ? '' : ` [${measure.alias}]`;
  return {
    measure: `${measure.name}${detail === undefined ? '' : `: ${detail}`}${alias}`,
    ours,
    baseline,
    ratio,
    target: target?.text ?? '-',
    verdict: broke ? 'ERROR' : target?.met === undefined ? 'info' : verdict(target.met),
  };
}

/** A quotient against a bound: `at least` (throughput) or `at most` (a time against its ideal). */
export type Bound = { atLeast: number } | { atMost: number };

/**
 * A row whose ratio is ours / baseline (two decimals), checked against `bound` when there is one:
 * the shape of every throughput comparison.
 */
export function quotientRow(
  measure: Measure,
  figures: { detail?: string; ours: number; baseline: number; show: (n: number) => string; bound?: Bound },
): Row {
  const { detail, ours, baseline, show, bound } = figures;
  const ratio = ours / baseline;
  return row(measure, {
    ...(detail !== undefined && { detail }),
    ours: show(ours),
    baseline: show(baseline),
    ratio: ratio.toFixed(2),
    ...(bound !== undefined && { target: boundTarget(ratio, bound) }),
  });
}

/** `>= 0.8` met by 0.9, `<= 1.2` met by 1.1. */
export function boundTarget(value: number, bound: Bound): { text: string; met: boolean } {
  return 'atLeast' in bound
    ? { text: `>= ${bound.atLeast}`, met: value >= bound.atLeast }
    : { text: `<= ${bound.atMost}`, met: value <= bound.atMost };
}

const COLUMNS: readonly (keyof Row)[] = ['measure', 'ours', 'baseline', 'ratio', 'target', 'verdict'];
// ours, baseline and ratio are numbers.
const RIGHT_ALIGNED = new Set([1, 2, 3]);

/** The bench's table of results, in the CLI's plain-text table format. */
export function resultsTable(rows: readonly Row[]): string {
  return formatTable(
    COLUMNS,
    rows.map((r) => COLUMNS.map((c) => r[c])),
    RIGHT_ALIGNED,
  );
}

export const verdict = (met: boolean): string => (met ? 'MET' : 'MISSED');

/** A count or rate as a whole number with thousands separators. */
export const int = (n: number | undefined): string => Math.round(n ?? 0).toLocaleString('en-US');

/** Milliseconds with one decimal. */
export const ms1 = (n: number): string => `${n.toFixed(1)} ms`;

/** A difference in milliseconds, with its sign. */
export const signedMs = (n: number): string => `${n < 0 ? '-' : '+'}${ms1(Math.abs(n))}`;

/** Milliseconds as seconds with two decimals; `n/a` when unknown. */
export const sec = (ms: number | undefined): string =>
  ms === undefined || Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`;

/** Bytes as whole MiB. */
export const mib = (bytes: number): string => `${int(bytes / 2 ** 20)} MiB`;
