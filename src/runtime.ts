import type { Config } from './config.js';
import { createFileDocumentSource } from './documents/file-source.js';
import type { DocumentSource } from './documents/source.js';
import { OrchestratorError } from './errors.js';
import type { Logger } from './logging.js';
import { createOrchestrator, type Orchestrator } from './orchestrator.js';
import { discoverProcessors, type InstalledProcessor } from './processors/discovery.js';
import { ProcessorPool } from './processors/pool.js';
import { loadPurchases } from './purchases.js';

export interface Runtime {
  orchestrator: Orchestrator;
  processors: ReadonlyMap<string, InstalledProcessor>;
  pool: ProcessorPool;
  close(): Promise<void>;
}

/** The document source the configuration names. */
export function documentSource(config: Config): DocumentSource {
  if (config.documentsDir) return createFileDocumentSource(config.documentsDir);
  if (config.documentsUrl) {
    throw new OrchestratorError(
      'CONFIG_INVALID',
      'DOCUMENTS_URL: the HTTP document source is not built yet; set DOCUMENTS_DIR instead',
    );
  }
  throw new OrchestratorError(
    'CONFIG_INVALID',
    'DOCUMENTS_DIR: not set; set it to a folder of {id}.json document files',
  );
}

/**
 * The longest the configured document source can take to answer (the deadline budget): files
 * are read at once.
 */
export function documentsBudgetMs(_config: Config): number {
  return 0;
}

/**
 * Wires what every command that processes events needs: processors discovered, purchases read,
 * the pool started and warm. Everything that can be wrong with the configuration fails here,
 * before any event is taken.
 */
export async function startRuntime(config: Config, log: Logger): Promise<Runtime> {
  const documents = documentSource(config);
  const processors = await discoverProcessors(config.processorsDir);
  const purchases = await loadPurchases(config.purchasesFile);
  const pool = new ProcessorPool({
    threads: config.processorThreads,
    maxHeapMb: config.processorMaxHeapMb,
    timeoutGraceMs: config.processorTimeoutGraceMs,
    logLevel: config.logLevel,
    log,
  });
  await pool.warm();
  const orchestrator = createOrchestrator({
    pool,
    processors,
    documents,
    purchases,
    defaultTimeoutMs: config.processorTimeoutMs,
    log,
  });
  return { orchestrator, processors, pool, close: () => pool.close() };
}
