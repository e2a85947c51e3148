import { pathToFileURL } from 'node:url';

import { Piscina } from 'piscina';

import type { InstalledProcessor } from '../src/processors/discovery.js';
import { closedLoop, type ClosedLoopOptions } from './closed-loop.js';
import { createPipeline, DOCUMENT_IDS, memoryDocuments, underwritingEvent } from './setup.js';

export type LoopShape = Omit<ClosedLoopOptions, 'once'>;

/** Events/s of the real orchestrator over a real pool, every event running every processor. */
export async function orchestratorThroughput(
  processors: ReadonlyMap<string, InstalledProcessor>,
  threads: number,
  maxHeapMb: number,
  loop: LoopShape,
): Promise<number> {
  const { pool, orchestrator } = await createPipeline(processors, threads, maxHeapMb);
  try {
    return await closedLoop({
      ...loop,
      once: async () => {
        const result = await orchestrator.process(underwritingEvent(), { sourceMessageId: 'bench' });
        if (result.overall_status !== 'success' || result.summary.total_processors !== processors.size) {
          throw new Error(`an event did not succeed: ${JSON.stringify(result.summary)}`);
        }
      },
    });
  } finally {
    await pool.close();
  }
}

interface RawOutcome {
  status: string;
}

/**
 * Events/s of raw Piscina doing the same work per event: fetch the documents, serialize them once,
 * run every plugin in a thread, each task under its own `AbortSignal.timeout` deadline.
 */
export async function rawPiscinaThroughput(
  files: readonly string[],
  rawWorker: string,
  threads: number,
  loop: LoopShape,
): Promise<number> {
  const piscina = new Piscina<{ file: string; input: string }, RawOutcome>({
    filename: pathToFileURL(rawWorker).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  try {
    return await closedLoop({
      ...loop,
      once: async () => {
        const batch = await memoryDocuments.fetch(DOCUMENT_IDS);
        const input = JSON.stringify({
          documents: batch.documents,
          missingDocuments: batch.missing.map((m) => m.id),
        });
        const outcomes = await Promise.all(
          files.map((file) => piscina.run({ file, input }, { signal: AbortSignal.timeout(60_000) })),
        );
        if (outcomes.some((o) => o.status !== 'completed')) throw new Error('a raw Piscina task failed');
      },
    });
  } finally {
    await piscina.destroy();
  }
}
