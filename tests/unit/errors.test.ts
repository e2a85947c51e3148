import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ERROR_CODES, OrchestratorError, httpStatusOf, messageOf } from '../../src/errors.js';
import { repoRoot } from '../helpers/fixtures.js';

describe('error catalogue', () => {
  it('is documented in docs/error-codes.md, code by code, with the same retry behaviour and HTTP status', async () => {
    const readme = await readFile(join(repoRoot, 'docs', 'error-codes.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` +\| (yes|no) +\| (\d{3})? +\|/gm)].map(
      ([, code, retry, status]) => [code, retry, status ?? ''],
    );
    const catalogue = Object.entries(ERROR_CODES).map(([code, entry]) => [
      code,
      entry.retryable ? 'yes' : 'no',
      'httpStatus' in entry ? String(entry.httpStatus) : '',
    ]);
    expect(documented).toEqual(catalogue);
  });

  it.each([
    ['NOT_FOUND', 404],
    ['REQUEST_INVALID', 400],
    ['RERUN_REFUSED', 409],
    ['IDEMPOTENCY_KEY_REUSED', 409],
    ['OPS_UNAVAILABLE', 503],
    ['LEDGER_UNAVAILABLE', 503],
    ['PUBLISH_FAILED', 503],
    ['UNEXPECTED', 500],
    ['NOT_A_CODE', 500],
  ])('answers %s with HTTP %i', (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
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
