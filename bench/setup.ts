import type { DocumentSource, DocumentText } from '../src/documents/source.js';
import type { Document } from '../src/events/document.js';
import type { UnderwritingCreated } from '../src/events/underwriting-created.js';
import { createLogger, type Logger } from '../src/logging.js';
import { createOrchestrator, type Orchestrator } from '../src/orchestrator.js';
import type { InstalledProcessor } from '../src/processors/discovery.js';
import { ProcessorPool } from '../src/processors/pool.js';

export const DOCUMENT_IDS = ['doc_1', 'doc_2', 'doc_3'] as const;

const DOCUMENTS: ReadonlyMap<string, Document> = new Map(
  DOCUMENT_IDS.map((id, i) => [
    id,
    { document_id: id, document_type: 'bank_statement', metadata: { page_count: i + 1 } },
  ]),
);

const TEXTS: ReadonlyMap<string, DocumentText> = new Map(
  [...DOCUMENTS].map(([id, doc]) => [id, { id, json: Buffer.from(JSON.stringify(doc)) }]),
);

/** An in-memory document source: every known id is found, at once. */
export const memoryDocuments: DocumentSource = {
  fetch(ids) {
    const documents: DocumentText[] = [];
    const missing: { id: string; reason: string }[] = [];
    for (const id of ids) {
      const doc = TEXTS.get(id);
      if (doc) documents.push(doc);
      else missing.push({ id, reason: 'not found' });
    }
    return Promise.resolve({ documents, missing });
  },
};

/** `{ documents, missingDocuments }` as the worker threads receive it, for the baselines. */
export function baselineInput(): string {
  return JSON.stringify({ documents: [...DOCUMENTS.values()], missingDocuments: [] });
}

let sequence = 0;

export function underwritingEvent(purchased?: string[]): UnderwritingCreated {
  sequence++;
  return {
    event: 'underwriting.created',
    data: {
      underwriting_id: `uw_${sequence}`,
      documents: [...DOCUMENT_IDS],
      ...(purchased && { purchased_processors: purchased }),
    },
  };
}

export const silentLog = (): Logger => createLogger('silent');

export interface Pipeline {
  pool: ProcessorPool;
  orchestrator: Orchestrator;
}

/** A real pool (warmed) and an orchestrator over it, as `runtime` wires them. */
export async function createPipeline(
  processors: ReadonlyMap<string, InstalledProcessor>,
  threads: number,
  maxHeapMb: number,
  maxThreads = 64,
): Promise<Pipeline> {
  const log = silentLog();
  const pool = new ProcessorPool({
    minThreads: threads,
    maxThreads,
    maxHeapMb,
    timeoutGraceMs: 1_000,
    logLevel: 'silent',
    log,
  });
  await pool.warm();
  const orchestrator = createOrchestrator({
    pool,
    processors,
    documents: memoryDocuments,
    purchases: new Map(),
    defaultTimeoutMs: 60_000,
    log,
  });
  return { pool, orchestrator };
}
