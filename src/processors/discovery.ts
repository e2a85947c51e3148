import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { OrchestratorError, formatIssues, messageOf, unreadableReason } from '../errors.js';
import { ProcessorDefinitionSchema, type ConcurrencyPolicy, type RetryPolicy } from './contract.js';

/** An installed processor: what discovery learned of one plugin module. */
export interface InstalledProcessor {
  id: string;
  version: string;
  /** The plugin's own deadline, if it sets one. */
  timeoutMs: number | undefined;
  concurrency: ConcurrencyPolicy | undefined;
  retry: RetryPolicy | undefined;
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
  const name = await pluginName(file);
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
  const { id, version, timeoutMs, concurrency, retry } = parsed.data;
  return { id, version, timeoutMs, concurrency, retry, file };
}

/**
 * How a message names a plugin module: its path from the working directory, and for a module
 * compiled from TypeScript (its source map names the source, which exists) the source first,
 * since that is the file to fix: `processors/x_v1/index.ts (built as dist/processors/x_v1/index.js)`.
 */
export async function pluginName(file: string): Promise<string> {
  const shown = (path: string) => relative(process.cwd(), path) || path;
  const source = await sourceOf(file);
  return source ? `${shown(source)} (built as ${shown(file)})` : shown(file);
}

/** The existing source file a module's source map (`FILE.map`) names first, if any. */
async function sourceOf(file: string): Promise<string | undefined> {
  try {
    const map = JSON.parse(await readFile(`${file}.map`, 'utf8')) as {
      sources?: unknown;
      sourceRoot?: unknown;
    };
    const [first] = Array.isArray(map.sources) ? (map.sources as unknown[]) : [];
    if (typeof first !== 'string') return undefined;
    const root = typeof map.sourceRoot === 'string' ? map.sourceRoot : '';
    const source = resolve(dirname(file), root, first);
    return (await stat(source)).isFile() ? source : undefined;
  } catch {
    return undefined;
  }
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
