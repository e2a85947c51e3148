import type { InstalledProcessor } from '../src/processors/discovery.js';
import { createPipeline, underwritingEvent } from './setup.js';

export interface Lateness {
  /** execution_time − timeout_ms of each TIMEOUT entry, in ms. */
  lateMs: number[];
  /** Runs that did not end as TIMEOUT (each is a defect of the processor or the pool). */
  notTimeout: number;
  /** Worker threads started during the runs: each replaced a thread terminated at a deadline. */
  threadsReplaced: number;
}

/**
 * Runs one processor through the orchestrator `runs` times, one after another, and measures how
 * long after its deadline each TIMEOUT settled, as the published `processing.completed` says.
 */
export async function timeoutLateness(
  processor: InstalledProcessor,
  runs: number,
  warmupRuns: number,
  threads: number,
  maxHeapMb: number,
): Promise<Lateness> {
  const processors = new Map([[processor.id, processor]]);
  const { pool, orchestrator } = await createPipeline(processors, threads, maxHeapMb);
  const lateMs: number[] = [];
  let notTimeout = 0;
  let threadsReplaced = 0;
  const onWorker = () => threadsReplaced++;
  try {
    for (let i = 0; i < warmupRuns + runs; i++) {
      if (i === warmupRuns) process.on('worker', onWorker);
      const result = await orchestrator.process(underwritingEvent([processor.id]), {
        sourceMessageId: 'bench',
      });
      if (i < warmupRuns) continue;
      const entry = result.timeout_processors[0];
      if (!entry) notTimeout++;
      else lateMs.push(Math.round(entry.execution_time * 1000) - entry.timeout_ms);
    }
  } finally {
    process.off('worker', onWorker);
    await pool.close();
  }
  return { lateMs, notTimeout, threadsReplaced };
}
