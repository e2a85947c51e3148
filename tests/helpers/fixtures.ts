import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { pino } from 'pino';

import { createLogger, type Logger } from '../../src/logging.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const fixtureProcessorsDir = join(repoRoot, 'tests', 'fixtures', 'processors');
/** Processors that count their runs in a log file (the ledger's and the re-run's tests). */
export const tallyProcessorsDir = join(repoRoot, 'tests', 'fixtures', 'tally-processors');
/** Processors that show pull's admission (see its README). */
export const admissionProcessorsDir = join(repoRoot, 'tests', 'fixtures', 'admission-processors');

/** Path of the fixture processor `fx_NAME`. */
export function fixture(name: string): string {
  return join(fixtureProcessorsDir, `fx_${name}.mjs`);
}

export const silentLog = pino({ level: 'silent' });

export const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** The service's real logger at debug level, writing its JSON lines into `lines`. */
export function capturingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger('debug', stream) };
}
