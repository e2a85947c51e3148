import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  ProcessingCompletedSchema,
  UnderwritingCreatedSchema,
  decodeEvent,
  jsonSchemas,
} from '../../src/events/index.js';
import { repoRoot } from '../helpers/fixtures.js';

const valid = {
  event: 'underwriting.created',
  data: { underwriting_id: 'uw_1', documents: ['doc_1'], organization_id: 'org_42' },
};

describe('underwriting.created', () => {
  it('accepts the contract example and drops unknown fields', () => {
    const parsed = UnderwritingCreatedSchema.parse({
      ...valid,
      trace: 'x',
      data: { ...valid.data, extra: 1 },
    });
    expect(parsed).toEqual(valid);
  });

  it('is immune to __proto__ keys at any depth', () => {
    const text =
      '{"event":"underwriting.created","__proto__":{"polluted":true},' +
      '"data":{"underwriting_id":"uw_1","documents":[],"__proto__":{"purchased_processors":["evil"]}}}';
    const decoded = decodeEvent(text);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.event.data.purchased_processors).toBeUndefined();
    expect(Object.getPrototypeOf(decoded.event)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(decoded.event.data)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each([
    ['not json', 'not JSON'],
    ['{"event":"underwriting.deleted","data":{}}', 'unknown event "underwriting.deleted"'],
    ['[1,2]', 'unknown event undefined'],
    ['null', 'unknown event undefined'],
    ['{"event":"underwriting.created","data":{"documents":[]}}', 'data.underwriting_id'],
    [
      '{"event":"underwriting.created","data":{"underwriting_id":"u","documents":[],"purchased_processors":["Bad-Id"]}}',
      'data.purchased_processors.0',
    ],
  ])('decodes %s as poison with a reason', (text, reason) => {
    const decoded = decodeEvent(Buffer.from(text));
    expect(decoded.ok).toBe(false);
    expect(decoded.ok ? '' : decoded.reason).toContain(reason);
  });
});

describe('processing.completed', () => {
  const result = {
    event: 'processing.completed',
    underwriting_id: 'uw_1',
    completed_at: '2024-01-15T10:35:00.000Z',
    overall_status: 'partial_success',
    summary: {
      total_processors: 2,
      completed_count: 1,
      failed_count: 0,
      timeout_count: 1,
      total_execution_time: 1.5,
    },
    completed_processors: [
      {
        processor_id: 'a',
        execution_id: '01J0000000000000000000000A',
        execution_time: 0.2,
        attempts: 1,
        factors: { x: [1, null] },
      },
    ],
    failed_processors: [],
    timeout_processors: [
      {
        processor_id: 'b',
        execution_id: '01J0000000000000000000000B',
        execution_time: 1.0,
        attempts: 2,
        timeout_ms: 1000,
        timeout_phase: 'signal',
      },
    ],
  };

  it('accepts a well-formed result', () => {
    expect(ProcessingCompletedSchema.parse(result)).toEqual(result);
  });

  it('is strict: an unknown field is refused', () => {
    expect(ProcessingCompletedSchema.safeParse({ ...result, extra: 1 }).success).toBe(false);
    const entry = { ...result.timeout_processors[0], factors: {} };
    expect(ProcessingCompletedSchema.safeParse({ ...result, timeout_processors: [entry] }).success).toBe(
      false,
    );
  });

  it('refuses a bad overall status or a negative time', () => {
    expect(ProcessingCompletedSchema.safeParse({ ...result, overall_status: 'ok' }).success).toBe(false);
    const summary = { ...result.summary, total_execution_time: -1 };
    expect(ProcessingCompletedSchema.safeParse({ ...result, summary }).success).toBe(false);
  });
});

describe('JSON Schema files', () => {
  it('are up to date with the zod schemas (run `npm run schemas`)', async () => {
    for (const [name, text] of Object.entries(jsonSchemas())) {
      expect(await readFile(join(repoRoot, 'schemas', name), 'utf8'), name).toBe(text);
    }
  });
});
