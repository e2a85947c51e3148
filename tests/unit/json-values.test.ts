import { describe, expect, it } from 'vitest';

import { FactorsSchema } from '../../src/events/processing-completed.js';
import { jsonObjectProblem } from '../../src/processors/json-values.js';

const cycle: Record<string, unknown> = { a: 1 };
cycle['self'] = cycle;

describe('jsonObjectProblem', () => {
  it.each([
    [{}],
    [{ a: 1, b: 'x', c: null, d: true, e: [1, { f: [] }] }],
    [Object.assign(Object.create(null) as object, { a: 1 })],
    [{ shared: [1], again: [1] }],
  ])('accepts JSON objects: %j', (value) => {
    expect(jsonObjectProblem(value)).toBeUndefined();
  });

  it.each([
    [undefined, 'factors must be an object, got undefined'],
    [[1], 'factors must be an object, got an array'],
    [{ when: new Date(0) }, 'factors.when is a Date, not a JSON value'],
    [{ n: Number.NaN }, 'factors.n is NaN, not a finite number'],
    [{ list: [1, Infinity] }, 'factors.list[1] is Infinity, not a finite number'],
    [{ f: () => 1 }, 'factors.f is a function, not a JSON value'],
    [{ big: 1n }, 'factors.big is a bigint, not a JSON value'],
    [{ u: undefined }, 'factors.u is undefined, not a JSON value'],
    [{ m: new Map() }, 'factors.m is a Map, not a JSON value'],
    [cycle, 'factors.self refers back to itself (a cycle)'],
  ])('refuses %o with the path of the offender', (value, problem) => {
    expect(jsonObjectProblem(value)).toBe(problem);
  });

  it('agrees with the outbound schema on what a factors object is', () => {
    const samples: unknown[] = [
      { a: [1, 'b', null, { c: false }] },
      { n: Number.NaN },
      { d: new Date(0) },
      { f: () => 1 },
    ];
    for (const sample of samples) {
      expect(jsonObjectProblem(sample) === undefined).toBe(FactorsSchema.safeParse(sample).success);
    }
  });
});
