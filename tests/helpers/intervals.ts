/** When a run started and ended, as a fixture processor reports it in its factors. */
export interface Interval {
  started: number;
  ended: number;
}

/** The most intervals that overlap at any moment. */
export function maxOverlap(intervals: readonly Interval[]): number {
  const edges = intervals.flatMap((i) => [
    { at: i.started, d: 1 },
    { at: i.ended, d: -1 },
  ]);
  // At the same instant an end comes before a start: touching runs did not overlap.
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}
