import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The package root, whether this file runs built (`dist/src/`) or from source (`src/`). */
export const packageRoot = here.endsWith(`${sep}dist${sep}src`) ? join(here, '..', '..') : join(here, '..');

/** The shipped processors, built: the default `PROCESSORS_DIR`. */
export const builtProcessorsDir = join(packageRoot, 'dist', 'processors');

/** Example documents and events shipped with the project. */
export const examplesDir = join(packageRoot, 'examples');
