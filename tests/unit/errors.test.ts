import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ERROR_CODES, OrchestratorError, messageOf } from '../../src/errors.js';
import { repoRoot } from '../helpers/fixtures.js';

describe('error catalogue', () => {
  it('is documented in docs/error-codes.md, code by code, with the same retry behaviour', async () => {
    const readme = await readFile(join(repoRoot, 'docs', 'error-codes.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` +\| (yes|no) +\|/gm)].map(([, code, retry]) => [
      code,
      retry,
    ]);
    const catalogue = Object.entries(ERROR_CODES).map(([code, { retryable }]) => [
      code,
      retryable ? 'yes' : 'no',
    ]);
    expect(documented).toEqual(catalogue);
  });

  it('takes retryable from the code', () => {
    expect(new OrchestratorError('DOCUMENT_SOURCE_UNAVAILABLE', 'x').retryable).toBe(true);
    expect(new OrchestratorError('EVENT_INVALID', 'x').retryable).toBe(false);
  });

  it.each([
    [new Error('plain'), 'plain'],
    [new TypeError('typed'), 'TypeError: typed'],
    ['a string', 'a string'],
    [{ code: 1 }, '{"code":1}'],
    [undefined, 'undefined'],
  ])('describes %o as %j', (err, text) => {
    expect(messageOf(err)).toBe(text);
  });
});
