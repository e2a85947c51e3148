/** The value at quantile `q` (0–1) of `values`, nearest-rank; NaN when there are none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** The median of figures that may be unknown (CPU time off Linux): `undefined` if any is. */
export function medianIfKnown(values: readonly (number | undefined)[]): number | undefined {
  return values.every((v) => v !== undefined) ? median(values) : undefined;
}
