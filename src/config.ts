import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';

import { z } from 'zod';

import { OrchestratorError } from './errors.js';
import { builtProcessorsDir } from './paths.js';

/** Defaults, named once. */
export const DEFAULTS = {
  PROCESSOR_TIMEOUT_MS: 60_000,
  PROCESSOR_MAX_HEAP_MB: 256,
  PROCESSOR_TIMEOUT_GRACE_MS: 1_000,
  LOG_LEVEL: 'info',
} as const;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

// An empty variable (`FOO=` in a shell or a Docker env file) means "not set".
const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

function integer(min: number, max: number, fallback: number) {
  return z.preprocess(
    (v) => (v === '' || v === undefined ? String(fallback) : v),
    z
      .string()
      .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
      .transform(Number)
      .pipe(z.number().int().min(min).max(max)),
  );
}

const EnvSchema = z.object({
  PROCESSORS_DIR: optionalString,
  DOCUMENTS_DIR: optionalString,
  PURCHASES_FILE: optionalString,
  PROCESSOR_TIMEOUT_MS: integer(1, 3_600_000, DEFAULTS.PROCESSOR_TIMEOUT_MS),
  PROCESSOR_TIMEOUT_GRACE_MS: integer(0, 60_000, DEFAULTS.PROCESSOR_TIMEOUT_GRACE_MS),
  PROCESSOR_THREADS: integer(1, 256, Math.max(2, availableParallelism())),
  PROCESSOR_MAX_HEAP_MB: integer(16, 65_536, DEFAULTS.PROCESSOR_MAX_HEAP_MB),
  LOG_LEVEL: z.preprocess(
    (v) => (v === '' || v === undefined ? DEFAULTS.LOG_LEVEL : v),
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  ),
});

export interface Config {
  /** Where plugins are discovered (absolute). */
  processorsDir: string;
  /** A folder of `{id}.json` document files (absolute), when documents come from files. */
  documentsDir: string | undefined;
  /** organization id → purchased processor ids (absolute path), optional. */
  purchasesFile: string | undefined;
  /** Default per-processor deadline, for processors that do not set `timeoutMs`. */
  processorTimeoutMs: number;
  /** How long a processor that honours `ctx.signal` has to settle after its deadline. */
  processorTimeoutGraceMs: number;
  /** Worker threads in the pool: how many processors run at once. */
  processorThreads: number;
  /** Heap limit of each worker thread; a processor that exceeds it is FAILED. */
  processorMaxHeapMb: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

/**
 * Parses the environment once. A bad value throws CONFIG_INVALID with one line that names the
 * variable and what is wrong; the CLI prints that line and exits 2.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const line = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new OrchestratorError('CONFIG_INVALID', line);
  }
  const e = parsed.data;
  return {
    processorsDir: e.PROCESSORS_DIR ? resolve(e.PROCESSORS_DIR) : builtProcessorsDir,
    documentsDir: e.DOCUMENTS_DIR ? resolve(e.DOCUMENTS_DIR) : undefined,
    purchasesFile: e.PURCHASES_FILE ? resolve(e.PURCHASES_FILE) : undefined,
    processorTimeoutMs: e.PROCESSOR_TIMEOUT_MS,
    processorTimeoutGraceMs: e.PROCESSOR_TIMEOUT_GRACE_MS,
    processorThreads: e.PROCESSOR_THREADS,
    processorMaxHeapMb: e.PROCESSOR_MAX_HEAP_MB,
    logLevel: e.LOG_LEVEL,
  };
}
