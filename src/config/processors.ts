import { availableParallelism, totalmem } from 'node:os';
import { resolve } from 'node:path';

import { z } from 'zod';

import { builtProcessorsDir } from '../paths.js';
import { PROCESSOR_DEFAULTS } from '../processors/defaults.js';
import { PACKAGE_NAME, PACKAGE_NAME_MAX } from '../processors/packages.js';
import { integer, optional, optionalString, wholeNumber } from './fields.js';

const THREADS = { min: 1, max: 256 } as const;
const MAX_THREADS = { min: 1, max: 1024 } as const;

const packageNames = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  )
  .superRefine((names, ctx) => {
    const bad = names.find((name) => !PACKAGE_NAME.test(name) || name.length > PACKAGE_NAME_MAX);
    if (bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `must be comma-separated npm package names ("${bad}" is not one)`,
      });
    }
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    if (twice !== undefined) ctx.addIssue({ code: 'custom', message: `names ${twice} twice` });
  });

export const processorsVariables = {
  PROCESSORS_DIR: optionalString,
  PROCESSOR_PACKAGES: optional(packageNames),
  PURCHASES_FILE: optionalString,
  PROCESSOR_TIMEOUT_MS: integer(1, 3_600_000, PROCESSOR_DEFAULTS.PROCESSOR_TIMEOUT_MS),
  PROCESSOR_TIMEOUT_GRACE_MS: integer(0, 60_000, PROCESSOR_DEFAULTS.PROCESSOR_TIMEOUT_GRACE_MS),
  // Unset: from the machine, read when the configuration is parsed (defaultThreads, defaultMaxThreads).
  PROCESSOR_THREADS: optional(wholeNumber(THREADS.min, THREADS.max)),
  PROCESSOR_MAX_THREADS: optional(wholeNumber(MAX_THREADS.min, MAX_THREADS.max)),
  PROCESSOR_MAX_HEAP_MB: integer(16, 65_536, PROCESSOR_DEFAULTS.PROCESSOR_MAX_HEAP_MB),
};

/** Threads kept in the pool when PROCESSOR_THREADS is unset: the cores, at least 2. */
export function defaultThreads(cores: number): number {
  return Math.min(THREADS.max, Math.max(2, cores));
}

/**
 * Threads the memory allows: half of it (the cgroup's limit where there is one, as on Cloud Run) at
 * a budget of 64 MB a thread (~9 MB idle, the rest for what processors allocate), between 4 and 64.
 * 2 GiB gives 16 threads.
 */
export function defaultMaxThreads(memoryBytes: number): number {
  return Math.min(64, Math.max(4, Math.floor(memoryBytes / 2 / (64 * 2 ** 20))));
}

/** The memory this process may use: the cgroup's limit where there is one, else the machine's. */
function memoryBytes(): number {
  return process.constrainedMemory?.() || totalmem();
}

/** `PROCESSORS_DIR`; else the built processors, unless packages are named (they replace them). */
function processorsDir(dir: string | undefined, packages: string[] | undefined): string | undefined {
  if (dir) return resolve(dir);
  return packages && packages.length > 0 ? undefined : builtProcessorsDir;
}

/** Which processors run, and how: where they come from, their deadlines and the pool's threads. */
export const processorsSection = z.object(processorsVariables).transform((e) => {
  const threads = e.PROCESSOR_THREADS ?? defaultThreads(availableParallelism());
  return {
    /**
     * Where plugins are discovered (absolute): `PROCESSORS_DIR`; unset, the built `processors/` of
     * this package, unless `PROCESSOR_PACKAGES` is set (then the packages replace it).
     */
    processorsDir: processorsDir(e.PROCESSORS_DIR, e.PROCESSOR_PACKAGES),
    /** Installed npm packages whose processors are loaded too (`PROCESSOR_PACKAGES`), in order. */
    processorPackages: e.PROCESSOR_PACKAGES ?? [],
    /** organization id → purchased processor ids (absolute path), optional. */
    purchasesFile: e.PURCHASES_FILE ? resolve(e.PURCHASES_FILE) : undefined,
    /** Default per-processor deadline, for processors that do not set `timeoutMs`. */
    processorTimeoutMs: e.PROCESSOR_TIMEOUT_MS,
    /** How long a processor that honours `ctx.signal` has to settle after its deadline. */
    processorTimeoutGraceMs: e.PROCESSOR_TIMEOUT_GRACE_MS,
    /** Worker threads kept in the pool, started up front (default: the cores, at least 2). */
    processorThreads: threads,
    /** Most worker threads: more start while runs that wait on I/O fill the others. */
    processorMaxThreads: Math.max(threads, e.PROCESSOR_MAX_THREADS ?? defaultMaxThreads(memoryBytes())),
    /** Heap limit of each worker thread; a processor that exceeds it is FAILED. */
    processorMaxHeapMb: e.PROCESSOR_MAX_HEAP_MB,
  };
});

export type ProcessorsConfig = z.output<typeof processorsSection>;
