import type { RunOutcome } from './processors/run.js';

/**
 * Reuse on redelivery and re-run: for one purchased processor, take an outcome recorded earlier as
 * it is (same `execution_id`, `factors`, `execution_time`), or run it. In this order:
 *
 * 1. An earlier delivery of this execution recorded it COMPLETED (the ledger claim's `prior`):
 *    reuse that. A recorded FAILED or TIMEOUT one runs again.
 * 2. The event is an operator's re-run that does not name it, and the execution it re-runs (still
 *    in the ledger) has an outcome for it: reuse that, whatever its status.
 * 3. Otherwise run it, its `attempts` counted on from what an earlier delivery recorded.
 *
 * The re-run's part is known when the handler has looked the earlier execution up (`rerunTakes`);
 * the rest when the orchestrator resolves the purchases (`reuseOrRun`).
 */
export type Reuse = { reuse: RunOutcome } | { run: { attemptsBefore: number } };

/**
 * Rule 2 for every processor of the execution a re-run re-runs: the outcomes the re-run takes as
 * they are, by processor id (the orchestrator's `receipt.reuse`). `earlier` is undefined when that
 * execution is gone from the ledger: nothing is taken, every purchased processor runs.
 */
export function rerunTakes(
  earlier: readonly { processorId: string; outcome: RunOutcome | undefined }[] | undefined,
  named: readonly string[],
): Map<string, RunOutcome> {
  const taken = new Map<string, RunOutcome>();
  for (const run of earlier ?? []) {
    if (run.outcome && !named.includes(run.processorId)) taken.set(run.processorId, run.outcome);
  }
  return taken;
}

/**
 * One purchased processor: `recorded` is what an earlier delivery of this execution recorded for
 * it, `taken` what a re-run takes for it (from `rerunTakes`).
 */
export function reuseOrRun(recorded: RunOutcome | undefined, taken: RunOutcome | undefined): Reuse {
  if (recorded?.status === 'completed') return { reuse: recorded };
  if (taken) return { reuse: taken };
  return { run: { attemptsBefore: recorded?.attempts ?? 0 } };
}
