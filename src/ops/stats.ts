import type { ExecutionRecord } from '../ledger/history.js';
import type { StatsView, StatsWindow } from './views.js';

/** Entries of runs that were not called: they count as `skipped`, not as runs. */
const NOT_CALLED = new Set(['PROCESSOR_PAUSED', 'PROCESSOR_CIRCUIT_OPEN']);

/**
 * Per-processor figures over a sample of executions: runs (outcomes a delivery produced; reused
 * ones are not runs, nor are those of a paused processor or an open circuit, counted as `skipped`),
 * the share of each outcome, and nearest-rank p50 / p95 of run time. `in_flight` is the caller's
 * to fill.
 */
export function statsOf(
  window: StatsWindow,
  records: readonly ExecutionRecord[],
  truncated: boolean,
  limit: number,
  now: number,
): StatsView {
  const byProcessor = new Map<
    string,
    { completed: number; failed: number; timeout: number; skipped: number; times: number[] }
  >();
  for (const record of records) {
    for (const run of record.runs) {
      if (run.reused) continue;
      let figures = byProcessor.get(run.processorId);
      if (!figures) {
        figures = { completed: 0, failed: 0, timeout: 0, skipped: 0, times: [] };
        byProcessor.set(run.processorId, figures);
      }
      if (run.errorCode !== null && NOT_CALLED.has(run.errorCode)) {
        figures.skipped += 1;
        continue;
      }
      figures[run.status] += 1;
      figures.times.push(run.executionTime);
    }
  }
  const processors = [...byProcessor]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([processor_id, f]) => {
      const runs = f.times.length;
      const times = [...f.times].sort((a, b) => a - b);
      return {
        processor_id,
        runs,
        skipped: f.skipped,
        completed_rate: rate(f.completed, runs),
        failed_rate: rate(f.failed, runs),
        timeout_rate: rate(f.timeout, runs),
        p50_run_time: percentile(times, 0.5),
        p95_run_time: percentile(times, 0.95),
      };
    });
  return {
    window,
    sample: { executions: records.length, limit, truncated, as_of: new Date(now).toISOString() },
    in_flight: 0,
    processors,
  };
}

const rate = (count: number, runs: number) => (runs === 0 ? 0 : Math.round((count / runs) * 1e4) / 1e4);

/** Nearest-rank percentile of sorted values; `null` when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] ?? null;
}
