import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { OrchestratorError, messageOf } from '../errors.js';
import { TYPESCRIPT } from './plugin-import.js';

/** An npm package name, as npm accepts new ones: `name` or `@scope/name`, lower case, URL-safe. */
export const PACKAGE_NAME = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
/** npm's longest package name. */
export const PACKAGE_NAME_MAX = 214;

/** The npm package a processor came from (`PROCESSOR_PACKAGES`). */
export interface PackageRef {
  name: string;
  version: string;
}

/** An installed processor package: its name and version, and the module its `import` resolves to. */
export interface ResolvedPackage {
  file: string;
  package: PackageRef;
}

/** Resolves a bare specifier as an `import` would, to a `file:` URL. */
export type ResolveSpecifier = (specifier: string) => string;

/**
 * The service's own resolution: from where this module is installed (in a deployment,
 * `node_modules/processor-orchestrator/`), never from the working folder. So a package is found
 * where npm installed it beside the service, by the package's `exports` for `import`.
 */
export const resolveFromService: ResolveSpecifier = (specifier) => import.meta.resolve(specifier);

/**
 * Finds an installed processor package: the module its name imports, and its version. A name that
 * does not resolve (not installed, or no entry for `import` in its `exports`) stops start-up with
 * CONFIG_INVALID: one line naming `PROCESSOR_PACKAGES`, the package and Node's reason.
 */
export function resolveProcessorPackage(
  name: string,
  resolve: ResolveSpecifier = resolveFromService,
): ResolvedPackage {
  let url: string;
  try {
    url = resolve(name);
  } catch (err) {
    throw new OrchestratorError('CONFIG_INVALID', `PROCESSOR_PACKAGES: ${name}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  if (!url.startsWith('file:')) {
    throw new OrchestratorError(
      'CONFIG_INVALID',
      `PROCESSOR_PACKAGES: ${name} resolves to ${url}, not to a file`,
    );
  }
  const file = fileURLToPath(url);
  const ref = { name, version: packageVersion(name, file) };
  if (TYPESCRIPT.test(file)) {
    throw new OrchestratorError(
      'PROCESSOR_INVALID',
      `${name}@${ref.version}: its entry ${file} is TypeScript; a processor package must ship built JavaScript`,
    );
  }
  return { file, package: ref };
}

/** The version in the package.json of the package `name` that holds `file`, or `?`. */
function packageVersion(name: string, file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    try {
      const { name: found, version } = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (found === name) return typeof version === 'string' ? version : '?';
    } catch {
      // Not JSON: not the package's manifest; keep looking further up.
    }
  }
  return '?';
}
