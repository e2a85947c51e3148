import { checkConfiguredPaths, processorSources, type Config } from './config.js';
import { configuredDocumentSource } from './documents/configured.js';
import type { Logger } from './logging.js';
import { createCircuits } from './guard/circuits.js';
import { createGuard, type Guard } from './guard/guard.js';
import { createLifecycle, type Lifecycle } from './lifecycle.js';
import type { PauseReader } from './guard/pause-cache.js';
import { createOrchestrator, type Orchestrator } from './orchestrator.js';
import { discoverProcessors, type InstalledProcessor } from './processors/discovery.js';
import { ProcessorPool } from './processors/pool.js';
import { loadPurchases } from './purchases.js';
import { observePool } from './telemetry/metrics.js';
import { noTelemetry, type Telemetry } from './telemetry/telemetry.js';

export interface Runtime {
  orchestrator: Orchestrator;
  processors: ReadonlyMap<string, InstalledProcessor>;
  pool: ProcessorPool;
  /** Pauses and circuit breakers: what decides whether a processor is called. */
  guard: Guard;
  close(): Promise<void>;
}

/**
 * The longest the configured document source can take to answer (the deadline budget): files
 * are read at once; the HTTP source gives up at DOCUMENTS_BUDGET_MS.
 */
export function documentsBudgetMs(config: Config): number {
  return config.documentsUrl && !config.documentsDir ? config.documentsHttp.budgetMs : 0;
}

/**
 * Wires what every command that processes events needs: processors discovered, purchases read,
 * the pool started and warm. Everything that can be wrong with the configuration fails here,
 * before any event is taken.
 */
export async function startRuntime(
  config: Config,
  log: Logger,
  telemetry?: Telemetry,
  options: { pauses?: PauseReader } = {},
): Promise<Runtime> {
  const life = createLifecycle(log);
  // First, so that its threads start while the rest is read.
  const pool = new ProcessorPool({
    minThreads: config.processorThreads,
    maxThreads: config.processorMaxThreads,
    maxHeapMb: config.processorMaxHeapMb,
    timeoutGraceMs: config.processorTimeoutGraceMs,
    logLevel: config.logLevel,
    log,
    telemetry,
  });
  const closePool = life.add('processor pool', () => pool.close());
  if (telemetry) {
    observePool(telemetry.meter, () => {
      const { threads, busyThreads, cpuSaturation } = pool.stats();
      return { threads, busyThreads, cpuSaturation };
    });
  }
  const warm = pool.warm();
  // Awaited once the rest is read; a thread that fails to start meanwhile must not end the process.
  warm.catch(() => {});
  try {
    await checkConfiguredPaths(config);
    const documents = await configuredDocumentSource(config, log, telemetry);
    life.add('document source', () => documents.close?.());
    const [processors, purchases] = await Promise.all([
      discoverProcessors(processorSources(config)),
      loadPurchases(config.purchasesFile),
    ]);
    await warm;
    const circuits = createCircuits({
      policies: new Map(
        [...processors.values()].flatMap((p) => (p.circuit ? [[p.id, p.circuit] as const] : [])),
      ),
      log,
      metrics: (telemetry ?? noTelemetry()).metrics,
    });
    const guard = createGuard({ pauses: options.pauses, circuits });
    const orchestrator = createOrchestrator({
      pool,
      processors,
      documents,
      purchases,
      defaultTimeoutMs: config.processorTimeoutMs,
      log,
      telemetry,
      guard,
    });
    return { orchestrator, processors, pool, guard, close: () => closeRuntime(life, closePool) };
  } catch (err) {
    // Nothing is left running when the configuration is wrong.
    await life.close();
    throw err;
  }
}

/**
 * The pool first (ending its threads ends the runs of events a drain gave up on), then the
 * document source. Rejects when a part did not close (each is logged as it fails).
 */
async function closeRuntime(life: Lifecycle, closePool: () => Promise<void>): Promise<void> {
  await closePool();
  if (!(await life.close())) throw new Error('the runtime did not close cleanly');
}
