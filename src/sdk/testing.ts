import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { pino } from 'pino';

import { DEFAULTS } from '../config.js';
import { DocumentSchema, type Document } from '../events/document.js';
import type { ProcessorDefinition } from '../processors/contract.js';
import { loadProcessor } from '../processors/discovery.js';
import { ProcessorPool } from '../processors/pool.js';
import { encodeInput, type RunOutcome } from '../processors/run.js';
import { DEFINED_IN } from './define.js';

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
 * real deadline, heap limit and timeout grace, and returns the entry production would publish.
 * `processor` is a definition made with `defineProcessor` (the default export of its module), or
 * the path (or file URL) of the module. A TypeScript module is loaded in the thread through tsx
 * (install it as a dev dependency). Each call starts and ends its own one-thread pool.
 */
export async function runProcessor(
  processor: ProcessorDefinition | string | URL,
  options: RunProcessorOptions = {},
): Promise<ProcessorRunResult> {
  const file = moduleFile(processor);
  const installed = await loadProcessor(file);
  if (typeof processor === 'object' && !(processor instanceof URL) && processor.id !== installed.id) {
    throw new Error(
      `runProcessor: ${processor.id} is not the default export of ${file} (${installed.id} is)`,
    );
  }
  const documents = (options.documents ?? []).map((d) => DocumentSchema.parse(d));
  const pool = new ProcessorPool({
    minThreads: 1,
    maxThreads: 1,
    maxHeapMb: options.maxHeapMb ?? DEFAULTS.PROCESSOR_MAX_HEAP_MB,
    timeoutGraceMs: options.graceMs ?? DEFAULTS.PROCESSOR_TIMEOUT_GRACE_MS,
    logLevel: options.logLevel ?? 'silent',
    log: pino({ level: 'silent' }),
  });
  try {
    await pool.warm();
    return await pool.run({
      file,
      processorId: installed.id,
      underwritingId: options.underwritingId ?? 'uw_test',
      timeoutMs: options.timeoutMs ?? installed.timeoutMs ?? DEFAULTS.PROCESSOR_TIMEOUT_MS,
      input: encodeInput({ documents, missingDocuments: options.missingDocuments ?? [] }),
      concurrency: installed.concurrency,
      retry: installed.retry,
    });
  } finally {
    await pool.close();
  }
}

function moduleFile(processor: ProcessorDefinition | string | URL): string {
  if (processor instanceof URL) return fileURLToPath(processor);
  if (typeof processor === 'string') {
    if (processor.startsWith('file:')) return fileURLToPath(processor);
    return isAbsolute(processor) ? processor : resolve(processor);
  }
  const file = (processor as { [DEFINED_IN]?: string })[DEFINED_IN];
  if (file === undefined) {
    throw new Error(
      `runProcessor: cannot tell which module declares ${processor.id}: create it with defineProcessor, or pass the module's path`,
    );
  }
  return file;
}
