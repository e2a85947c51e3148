// Steady arrivals: a ready `serve` pulling while the bench publishes at a paced rate; the latency
// of each event runs from its publish to its processing.completed. An event still unanswered when
// the bench stops waiting counts with the time it had waited so far: the quantiles are then lower
// bounds, and say so.
import { setTimeout as sleep } from 'node:timers/promises';

import { quantile } from '../stats.js';
import { startContender } from './contender.js';
import { contenderEnv, watchMemory, type CapacityContext, type MemoryUse } from './context.js';
import { openLane } from './lane.js';
import { SMALL_DOCUMENTS, underwritingCreated } from './workload.js';

export interface SteadyResult {
  published: number;
  /** Events answered by the time the bench stopped waiting. */
  replied: number;
  allCompleted: number;
  duplicates: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Some events were not answered: the quantiles are at least these. */
  lowerBounds: boolean;
  memory: MemoryUse;
}

let runs = 0;

/**
 * Publishes `rate` events a second for `seconds`, then waits up to `drainMs` for the last replies.
 */
export async function steadyArrivals(
  context: CapacityContext,
  rate: number,
  seconds: number,
  drainMs: number,
): Promise<SteadyResult> {
  const run = ++runs;
  const lane = await openLane(context.pubsub, 'steady');
  const memory = watchMemory(context.cgroup);
  const contender = await startContender(
    'serve',
    `serve (steady ${rate.toFixed(1)} events/s)`,
    contenderEnv(context, { completedTopic: lane.outTopic, subscription: lane.inSubscription }),
    context.cgroup,
  );
  try {
    await contender.ready(30_000);
    const count = Math.round(rate * seconds);
    const sentAt = new Map<string, number>();
    const publishes: Promise<string>[] = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const id = `uw_cap_steady_${run}_${i}`;
      sentAt.set(id, performance.now());
      publishes.push(lane.publishOne(underwritingCreated(id, SMALL_DOCUMENTS)));
    }
    await contender.unlessExited(Promise.all(publishes));
    await contender.unlessExited(lane.replies.until(count, drainMs));
    const cutoff = performance.now();
    const latencies = [...sentAt].map(([id, at]) => (lane.replies.byId.get(id)?.at ?? cutoff) - at);
    const replies = [...lane.replies.byId.values()];
    return {
      published: count,
      replied: replies.length,
      allCompleted: replies.filter((r) => r.total > 0 && r.completed === r.total).length,
      duplicates: lane.replies.duplicates(),
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: quantile(latencies, 1),
      lowerBounds: replies.length < count,
      memory: memory.read(),
    };
  } finally {
    await contender.stop();
    await lane.delete();
  }
}
