import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Document, ProcessorDefinition } from '@processor-orchestrator/sdk';
import { pino } from 'pino';

import { OrchestratorError } from '../errors.js';
import { DocumentSchema } from '../events/document.js';
import { PROCESSOR_DEFAULTS } from '../processors/defaults.js';
import { loadModule, originOf, type InstalledProcessor } from '../processors/discovery.js';
import { ProcessorPool } from '../processors/pool.js';
import { encodeInput, type RunOutcome } from '../processors/run.js';

// Where `defineProcessor` records the module that declared a definition: a key of the global
// symbol registry, shared by every copy and version of the SDK (see its define.ts).
const DEFINED_IN = Symbol.for('processor-orchestrator.definedIn');
const TEST_FILE = /\.(test|spec)\.[cm]?[jt]sx?$/;

/** What a test gives the processor, as the orchestrator would. */
export interface RunProcessorOptions {
  /** The documents the source found (validated like the document service's). Default: none. */
  documents?: Document[];
  /** Ids the source did not find: `ctx.missingDocuments`. Default: none. */
  missingDocuments?: string[];
  /** `ctx.underwritingId`. Default: `uw_test`. */
  underwritingId?: string;
  /** The deadline. Default: the processor's `timeoutMs`, else `PROCESSOR_TIMEOUT_MS` (60 s). */
  timeoutMs?: number;
  /** How long a processor may settle after `ctx.signal` aborts. Default: 1000 ms, as in production. */
  graceMs?: number;
  /** Heap limit of the thread. Default: 256 MB, as in production. */
  maxHeapMb?: number;
  /** Level of `ctx.log` (written to stderr). Default: `silent`. */
  logLevel?: string;
}

/**
 * The entry `processing.completed` would publish for the run, and which group it goes in:
 * `completed` (with `factors`), `failed` (with `error_message`) or `timeout` (with `timeout_ms`
 * and `timeout_phase`: `signal` when the processor settled after `ctx.signal` aborted, within the
 * grace; `terminated` when its thread was ended). `execution_time` is in seconds, run time over
 * every attempt; `attempts` counts them (the processor's `retry` policy runs here as in production).
 */
export type ProcessorRunResult = RunOutcome;

/**
 * Runs a processor the way production does: in a real worker thread of a real pool, under its
 * real deadline, heap limit, timeout grace and policies, and returns the entry production would
 * publish. `processor` is a definition made with `defineProcessor` (the default export of its
 * module, or an element of an array default export), or the path (or file URL) of a module that
 * declares one processor. The module is checked as the service checks it at start-up (its
 * definition, its plugin contract version). A TypeScript module is loaded in the thread through
 * tsx. Each call starts and ends its own one-thread pool.
 */
export async function runProcessor(
  processor: ProcessorDefinition | string | URL,
  options: RunProcessorOptions = {},
): Promise<ProcessorRunResult> {
  const installed = await installedProcessor(processor);
  const documents = (options.documents ?? []).map((d) => DocumentSchema.parse(d));
  const pool = new ProcessorPool({
    minThreads: 1,
    maxThreads: 1,
    maxHeapMb: options.maxHeapMb ?? PROCESSOR_DEFAULTS.PROCESSOR_MAX_HEAP_MB,
    timeoutGraceMs: options.graceMs ?? PROCESSOR_DEFAULTS.PROCESSOR_TIMEOUT_GRACE_MS,
    logLevel: options.logLevel ?? 'silent',
    log: pino({ level: 'silent' }),
  });
  try {
    await pool.warm();
    return await pool.run({
      file: installed.file,
      processorId: installed.id,
      underwritingId: options.underwritingId ?? 'uw_test',
      timeoutMs: options.timeoutMs ?? installed.timeoutMs ?? PROCESSOR_DEFAULTS.PROCESSOR_TIMEOUT_MS,
      input: encodeInput({ documents, missingDocuments: options.missingDocuments ?? [] }),
      concurrency: installed.concurrency,
      retry: installed.retry,
    });
  } finally {
    await pool.close();
  }
}

/** The processor to run, as discovery reads it from its module. */
async function installedProcessor(
  processor: ProcessorDefinition | string | URL,
): Promise<InstalledProcessor> {
  const file = moduleFile(processor);
  const declared = await loadModule(file);
  if (typeof processor === 'string' || processor instanceof URL) {
    const [only, ...others] = declared;
    if (!only || others.length > 0) {
      throw new OrchestratorError(
        'USAGE',
        `runProcessor: ${originOf({ file })} declares ${declared.length} processors; pass the definition to run`,
      );
    }
    return only;
  }
  const found = declared.find((p) => p.id === processor.id);
  if (!found) {
    throw new OrchestratorError(
      'USAGE',
      `runProcessor: ${processor.id} is not declared by the default export of ${originOf({ file })} (${declared.map((p) => p.id).join(', ')} is)`,
    );
  }
  return found;
}

function moduleFile(processor: ProcessorDefinition | string | URL): string {
  if (processor instanceof URL) return fileURLToPath(processor);
  if (typeof processor === 'string') {
    if (processor.startsWith('file:')) return fileURLToPath(processor);
    return isAbsolute(processor) ? processor : resolve(processor);
  }
  const file = (processor as { [DEFINED_IN]?: unknown })[DEFINED_IN];
  if (typeof file !== 'string') {
    throw new OrchestratorError(
      'USAGE',
      `runProcessor: cannot tell which module declares ${processor.id}: create it with defineProcessor, or pass the module's path`,
    );
  }
  // The thread imports the module that declares it: a test file is not a processor module.
  if (TEST_FILE.test(file)) {
    throw new OrchestratorError(
      'USAGE',
      `runProcessor: ${processor.id} is declared in a test file (${originOf({ file })}); declare it as the default export of its own module and import it from there`,
    );
  }
  return file;
}
