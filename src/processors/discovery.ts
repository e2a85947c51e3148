import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { OrchestratorError, formatIssues, messageOf, unreadableReason } from '../errors.js';
import {
  ProcessorDefinitionSchema,
  type CircuitPolicy,
  type ConcurrencyPolicy,
  type RetryPolicy,
} from './contract.js';

/** An installed processor: what discovery learned of one plugin module. */
export interface InstalledProcessor {
  id: string;
  version: string;
  /** The plugin's own deadline, if it sets one. */
  timeoutMs: number | undefined;
  concurrency: ConcurrencyPolicy | undefined;
  retry: RetryPolicy | undefined;
  /** Its circuit breaker, when it declares one (see `CircuitPolicySchema`). */
  circuit?: CircuitPolicy | undefined;
  /** Absolute path of the module; worker threads import it from there. */
  file: string;
}

const MODULE = /\.(js|mjs)$/;
/** Entries discovery skips: examples, and helpers (`_name`). */
export const IGNORED_NAMES = /^(example|_)/;

/** The plugin module files of `dir`: `NAME/index.(js|mjs)` and `NAME.(js|mjs)`, sorted by name. */
export async function pluginFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new OrchestratorError(
      'PROCESSORS_DIR_UNREADABLE',
      `PROCESSORS_DIR: ${dir} ${unreadableReason(err)}`,
      { cause: err },
    );
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (IGNORED_NAMES.test(entry.name)) continue;
    const path = join(dir, entry.name);
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path)).isDirectory());
    if (isDir) {
      const index = await firstExisting([join(path, 'index.js'), join(path, 'index.mjs')]);
      if (index) files.push(index);
    } else if (MODULE.test(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    if (
      await stat(path).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

/**
 * Imports one plugin module and validates its default export. An import failure or an invalid
 * definition throws PROCESSOR_INVALID with one line naming the file and the problem.
 */
export async function loadProcessor(file: string): Promise<InstalledProcessor> {
  const name = relative(process.cwd(), file) || file;
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new OrchestratorError('PROCESSOR_INVALID', `${name}: cannot be loaded: ${messageOf(err)}`, {
      cause: err,
    });
  }
  const parsed = ProcessorDefinitionSchema.safeParse(mod.default);
  if (!parsed.success) {
    throw new OrchestratorError(
      'PROCESSOR_INVALID',
      `${name}: the default export is not a processor definition (${formatIssues(parsed.error.issues)})`,
    );
  }
  const { id, version, timeoutMs, concurrency, retry, circuit } = parsed.data;
  return { id, version, timeoutMs, concurrency, retry, circuit, file };
}

/**
 * Imports and validates every plugin of `dir`. An invalid definition or a duplicate id throws,
 * with one line naming the file and the problem: start-up stops there.
 */
export async function discoverProcessors(dir: string): Promise<Map<string, InstalledProcessor>> {
  const installed = new Map<string, InstalledProcessor>();
  for (const file of await pluginFiles(dir)) {
    const processor = await loadProcessor(file);
    const other = installed.get(processor.id);
    if (other) {
      const name = relative(process.cwd(), file) || file;
      throw new OrchestratorError(
        'PROCESSOR_DUPLICATE',
        `${name}: processor id "${processor.id}" is already declared by ${relative(process.cwd(), other.file) || other.file}`,
      );
    }
    installed.set(processor.id, processor);
  }
  checkSharedLimits(installed.values());
  return installed;
}

/** Processors that share a concurrency key must agree on its limit: one key, one number. */
function checkSharedLimits(processors: Iterable<InstalledProcessor>): void {
  const limits = new Map<string, InstalledProcessor>();
  for (const processor of processors) {
    const key = processor.concurrency?.key;
    if (key === undefined || !processor.concurrency) continue;
    const other = limits.get(key);
    if (other && other.concurrency?.limit !== processor.concurrency.limit) {
      const name = relative(process.cwd(), processor.file) || processor.file;
      throw new OrchestratorError(
        'PROCESSOR_INVALID',
        `${name}: concurrency key "${key}" has limit ${processor.concurrency.limit}, but ${other.id} gives it ${other.concurrency?.limit}`,
      );
    }
    limits.set(key, processor);
  }
}
