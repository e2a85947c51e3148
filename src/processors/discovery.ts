import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

import { OrchestratorError, formatIssues, messageOf, unreadableReason } from '../errors.js';
import {
  ProcessorDefinitionSchema,
  SUPPORTED_CONTRACT_VERSION,
  contractCompatible,
  major,
  type CircuitPolicy,
  type ConcurrencyPolicy,
  type RetryPolicy,
} from './contract.js';
import { declaredDefinitions } from './definitions.js';
import { importPlugin } from './plugin-import.js';
import {
  resolveFromService,
  resolveProcessorPackage,
  type PackageRef,
  type ResolveSpecifier,
} from './packages.js';

/** An installed processor: what discovery learned of one plugin definition. */
export interface InstalledProcessor {
  id: string;
  version: string;
  /** The plugin's own deadline, if it sets one. */
  timeoutMs: number | undefined;
  concurrency: ConcurrencyPolicy | undefined;
  retry: RetryPolicy | undefined;
  /** The plugin contract it is built for (`defineProcessor` stamps it); unset when it does not say. */
  contractVersion?: string | undefined;
  /** Its circuit breaker, when it declares one (see `CircuitPolicySchema`). */
  circuit?: CircuitPolicy | undefined;
  /** Absolute path of the module; worker threads import it from there. */
  file: string;
  /** The npm package it came from (`PROCESSOR_PACKAGES`); unset for a module of `PROCESSORS_DIR`. */
  package?: PackageRef | undefined;
}

/** Where processors come from: a folder's plugin modules, then installed packages, in order. */
export interface ProcessorSources {
  /** `PROCESSORS_DIR`. */
  dir?: string | undefined;
  /** `PROCESSOR_PACKAGES`: package names, resolved from the service's own `node_modules`. */
  packages?: readonly string[] | undefined;
}

const MODULE = /\.(js|mjs)$/;
/** Entries discovery skips: examples, and helpers (`_name`). */
export const IGNORED_NAMES = /^(example|_)/;

/** Where a processor came from, as messages and `processors` say it: `name@version`, or its file. */
export function originOf(p: Pick<InstalledProcessor, 'file' | 'package'>): string {
  return p.package ? `${p.package.name}@${p.package.version}` : relative(process.cwd(), p.file) || p.file;
}

/** The sources, in words: `PROCESSORS_DIR`'s folder and the packages. */
export function describeSources({ dir, packages = [] }: ProcessorSources): string {
  return [dir, ...packages].filter((s) => s !== undefined).join(', ') || 'none';
}

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
 * Imports one plugin module and validates what its default export declares: a processor
 * definition, or an array of them. An import failure or an invalid definition throws
 * PROCESSOR_INVALID, a definition built for another major version of the plugin contract
 * PROCESSOR_CONTRACT_MISMATCH: one line naming the module (its package, for a package) and
 * the problem.
 */
export async function loadModule(file: string, pkg?: PackageRef): Promise<InstalledProcessor[]> {
  const name = pkg ? originOf({ file, package: pkg }) : await pluginName(file);
  let mod: { default?: unknown };
  try {
    mod = await importPlugin(file);
  } catch (err) {
    throw new OrchestratorError('PROCESSOR_INVALID', `${name}: cannot be loaded: ${messageOf(err)}`, {
      cause: err,
    });
  }
  if (mod.default === undefined) {
    throw new OrchestratorError(
      'PROCESSOR_INVALID',
      `${name}: has no default export; it must default-export a processor definition, or an array of them`,
    );
  }
  const declared = declaredDefinitions(mod.default);
  if (declared.length === 0) {
    throw new OrchestratorError('PROCESSOR_INVALID', `${name}: its default export is an empty array`);
  }
  return declared.map((value, i) => {
    const which = Array.isArray(mod.default) ? `element ${i} of the default export` : 'the default export';
    return installed(value, which, name, file, pkg);
  });
}

function installed(
  value: unknown,
  which: string,
  name: string,
  file: string,
  pkg: PackageRef | undefined,
): InstalledProcessor {
  const parsed = ProcessorDefinitionSchema.safeParse(value);
  if (!parsed.success) {
    throw new OrchestratorError(
      'PROCESSOR_INVALID',
      `${name}: ${which} is not a processor definition (${formatIssues(parsed.error.issues)})`,
    );
  }
  const { id, version, timeoutMs, concurrency, retry, circuit, contractVersion } = parsed.data;
  if (!contractCompatible(contractVersion, SUPPORTED_CONTRACT_VERSION)) {
    const supported = major(SUPPORTED_CONTRACT_VERSION);
    throw new OrchestratorError(
      'PROCESSOR_CONTRACT_MISMATCH',
      `${name}: processor ${id} ${version} is built for plugin contract ${contractVersion}, but this service implements ${SUPPORTED_CONTRACT_VERSION} and runs processors built for ${supported}.x; rebuild it with @processor-orchestrator/sdk ${supported}.x`,
    );
  }
  return { id, version, timeoutMs, concurrency, retry, circuit, contractVersion, file, package: pkg };
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
 * Imports the one processor a module declares (the test kit, and tests): as `loadModule`, and a
 * module that declares several is refused.
 */
export async function loadProcessor(file: string): Promise<InstalledProcessor> {
  const [processor, ...others] = await loadModule(file);
  if (!processor || others.length > 0) {
    throw new OrchestratorError(
      'PROCESSOR_INVALID',
      `${originOf({ file })}: declares ${others.length + 1} processors; name the one to run`,
    );
  }
  return processor;
}

/**
 * Imports and validates every plugin of a folder (`PROCESSORS_DIR`), then of each installed
 * package (`PROCESSOR_PACKAGES`). A package that is not installed, an invalid definition, one
 * built for another major contract version, or a duplicate id throws, with one line naming the
 * module or package and the problem: start-up stops there.
 */
export async function discoverProcessors(
  sources: string | ProcessorSources,
  resolve: ResolveSpecifier = resolveFromService,
): Promise<Map<string, InstalledProcessor>> {
  const { dir, packages = [] } = typeof sources === 'string' ? { dir: sources } : sources;
  const modules: { file: string; package?: PackageRef }[] =
    dir === undefined ? [] : (await pluginFiles(dir)).map((file) => ({ file }));
  modules.push(...packages.map((name) => resolveProcessorPackage(name, resolve)));
  const found = new Map<string, InstalledProcessor>();
  for (const module of modules) {
    for (const processor of await loadModule(module.file, module.package)) {
      const other = found.get(processor.id);
      if (other) {
        throw new OrchestratorError(
          'PROCESSOR_DUPLICATE',
          `${originOf(processor)}: processor id "${processor.id}" is already declared by ${originOf(other)}`,
        );
      }
      found.set(processor.id, processor);
    }
  }
  checkSharedLimits(found.values());
  return found;
}

/** Processors that share a concurrency key must agree on its limit: one key, one number. */
function checkSharedLimits(processors: Iterable<InstalledProcessor>): void {
  const limits = new Map<string, InstalledProcessor>();
  for (const processor of processors) {
    const key = processor.concurrency?.key;
    if (key === undefined || !processor.concurrency) continue;
    const other = limits.get(key);
    if (other && other.concurrency?.limit !== processor.concurrency.limit) {
      throw new OrchestratorError(
        'PROCESSOR_INVALID',
        `${originOf(processor)}: concurrency key "${key}" has limit ${processor.concurrency.limit}, but ${other.id} gives it ${other.concurrency?.limit}`,
      );
    }
    limits.set(key, processor);
  }
}
