import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { pino } from 'pino';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const fixtureProcessorsDir = join(repoRoot, 'tests', 'fixtures', 'processors');

/** Path of the fixture processor `fx_NAME`. */
export function fixture(name: string): string {
  return join(fixtureProcessorsDir, `fx_${name}.mjs`);
}

export const silentLog = pino({ level: 'silent' });

export const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
