import { decodeTime } from 'ulid';
import { describe, expect, it } from 'vitest';

import { newExecutionId } from '../../src/processors/execution-id.js';
import { ULID } from '../helpers/fixtures.js';

describe('execution ids', () => {
  it('are ULIDs of the current time, distinct across many more draws than one random buffer holds', () => {
    const before = Date.now();
    const ids = Array.from({ length: 2_000 }, newExecutionId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(ULID);
    expect(decodeTime(ids[0] as string)).toBeGreaterThanOrEqual(before);
    expect(decodeTime(ids.at(-1) as string)).toBeLessThanOrEqual(Date.now());
  });

  it('use the whole alphabet in their random part', () => {
    const seen = new Set(Array.from({ length: 500 }, () => newExecutionId().slice(10)).join(''));
    expect(seen.size).toBe(32);
  });
});
