// Interleaved rounds: how every bench sets `serve` (or the orchestrator) against its baselines.
// The sides run one after another in each round, the order reversed every other round, so that no
// side always gets the machine fresh or warm; a warm-up run of some sides may come first, not
// counted. Figures are the median over the rounds, or the median of the rounds' own ratios (the
// sides of one round ran back to back, under the same load).
import { median } from './stats.js';

/** The order of the sides in round `round` (from 1): as given in odd rounds, reversed in even ones. */
export function roundOrder<S>(sides: readonly S[], round: number): S[] {
  return round % 2 === 0 ? [...sides].reverse() : [...sides];
}

export interface RoundsOptions<S extends string, R> {
  /** The sides, in the first round's order. */
  sides: readonly S[];
  rounds: number;
  /** Sides run once each, in this order, before the rounds; not counted. */
  warmup?: readonly S[];
  /** One run of one side; `round` is 0 for a warm-up run. */
  run: (side: S, round: number) => Promise<R>;
  /** A line on each round, `LABEL round 1/3: SIDE FIGURE, SIDE FIGURE`, the sides in `sides` order. */
  progress?: { say: (line: string) => void; label: string; show: (side: S, run: R) => string };
}

export interface Rounds<S extends string, R> {
  /** Every counted run of each side, in round order. */
  readonly runs: Readonly<Record<S, readonly R[]>>;
  /** A figure of each counted run of `side`, in round order. */
  figures(side: S, figure: (run: R) => number): number[];
  /** The median over the rounds of a figure of `side`'s runs. */
  median(side: S, figure: (run: R) => number): number;
  /** The median of each round's own ratio of a figure of side `a` to the same of side `b`. */
  medianRatio(a: S, b: S, figure: (run: R) => number): number;
  /** Every round's figure of every side: `SIDE 1, 2, 3; SIDE 4, 5, 6`. */
  summary(figure: (run: R) => number, show: (n: number) => string): string;
}

/** Runs the warm-up, then `rounds` rounds of every side in alternating order; see the file's top. */
export async function interleavedRounds<S extends string, R>(
  options: RoundsOptions<S, R>,
): Promise<Rounds<S, R>> {
  const { sides, rounds, warmup = [], run, progress } = options;
  if (warmup.length > 0) progress?.say(`${progress.label}: warm-up of ${warmup.join(', ')}, not counted`);
  for (const side of warmup) await run(side, 0);
  const runs = Object.fromEntries(sides.map((side) => [side, [] as R[]])) as Record<S, R[]>;
  for (let round = 1; round <= rounds; round++) {
    for (const side of roundOrder(sides, round)) runs[side].push(await run(side, round));
    if (progress === undefined) continue;
    const parts = sides.map((side) => progress.show(side, runs[side][round - 1] as R));
    progress.say(`${progress.label} round ${round}/${rounds}: ${parts.join(', ')}`);
  }
  return roundsOf(runs);
}

/** The figures of runs already made, one array per side, index = round − 1. */
export function roundsOf<S extends string, R>(runs: Readonly<Record<S, readonly R[]>>): Rounds<S, R> {
  const figures = (side: S, figure: (run: R) => number) => runs[side].map(figure);
  return {
    runs,
    figures,
    median: (side, figure) => median(figures(side, figure)),
    medianRatio: (a, b, figure) => {
      const below = figures(b, figure);
      return median(figures(a, figure).map((x, i) => x / (below[i] ?? Number.NaN)));
    },
    summary: (figure, show) =>
      (Object.keys(runs) as S[])
        .map((side) => `${side} ${figures(side, figure).map(show).join(', ')}`)
        .join('; '),
  };
}
