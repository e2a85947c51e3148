import { formatTable } from '../src/commands/table.js';

export interface Row {
  measure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
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
