export interface Row {
  measure: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: string;
}

const COLUMNS: readonly (keyof Row)[] = ['measure', 'ours', 'baseline', 'ratio', 'target', 'verdict'];
const RIGHT_ALIGNED: ReadonlySet<keyof Row> = new Set(['ours', 'baseline', 'ratio']);

/** A plain-text table, one line per row, columns padded to their widest cell. */
export function formatTable(rows: readonly Row[]): string {
  const header = Object.fromEntries(COLUMNS.map((c) => [c, c])) as unknown as Row;
  const all = [header, ...rows];
  const widths = COLUMNS.map((c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: Row) =>
    COLUMNS.map((c, i) => {
      const width = widths[i] ?? 0;
      return RIGHT_ALIGNED.has(c) ? r[c].padStart(width) : r[c].padEnd(width);
    })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export const verdict = (met: boolean): string => (met ? 'MET' : 'MISSED');
