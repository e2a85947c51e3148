import { pathToFileURL } from 'node:url';

import type * as TsxApi from 'tsx/esm/api';

/** A TypeScript module: the test kit runs an author's processor from source. */
export const TYPESCRIPT = /\.[cm]?ts$/;

/**
 * Imports a plugin module, on the main thread (discovery) or in a worker thread. JavaScript is
 * imported as it is. TypeScript (only the test kit gives it: an author's test runs the processor
 * from source) goes through tsx, a dev dependency of the author's package; the service itself
 * ships and loads built JavaScript only, and never needs tsx.
 */
export function importPlugin(file: string): Promise<{ default?: unknown }> {
  const url = pathToFileURL(file).href;
  if (!TYPESCRIPT.test(file)) return import(url) as Promise<{ default?: unknown }>;
  let loaded = typescript.get(file);
  if (!loaded) {
    loaded = importTypeScript(url);
    loaded.catch(() => typescript.delete(file));
    typescript.set(file, loaded);
  }
  return loaded;
}

// tsx registers a loader for every import it is asked for: each module once per thread.
const typescript = new Map<string, Promise<{ default?: unknown }>>();

async function importTypeScript(url: string): Promise<{ default?: unknown }> {
  let tsx: typeof TsxApi;
  try {
    tsx = await import('tsx/esm/api');
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(`${url} is TypeScript, which runs through tsx: install it (npm install --save-dev tsx)`, {
      cause: err,
    });
  }
  return (await tsx.tsImport(url, import.meta.url)) as { default?: unknown };
}
