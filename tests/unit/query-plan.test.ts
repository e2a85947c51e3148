import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { FieldPath, type Query } from '@google-cloud/firestore';
import { describe, expect, it } from 'vitest';

import { FAILURE_CODES } from '../../src/events/processing-completed.js';
import { plannedQuery } from '../../src/ledger/firestore.js';
import type { ExecutionFilter } from '../../src/ledger/history.js';
import { UNDERWRITING_HISTORY_INDEX, indexOf, planQuery } from '../../src/ledger/query-plan.js';
import { repoRoot } from '../helpers/fixtures.js';

/** The composite indexes deploy/setup.sh creates on the ledger's collection, as `field:order` lists. */
function setupIndexes(): string[][] {
  const script = readFileSync(join(repoRoot, 'deploy', 'setup.sh'), 'utf8');
  const block = /^for fields in ([\s\S]*?); do$/m.exec(script)?.[1];
  if (block === undefined) throw new Error('deploy/setup.sh has no `for fields in …; do` list of indexes');
  return [...block.matchAll(/"([^"]+)"/g)].map(([, fields]) => (fields ?? '').split(' '));
}

/** A stand-in for a Firestore query that records what the code asks of it. */
function recordingQuery(): Query & { calls: [string, string, unknown][] } {
  const calls: [string, string, unknown][] = [];
  const query = {
    calls,
    where(field: string, op: string, value: unknown) {
      calls.push(['where', field, [op, value]]);
      return query;
    },
    orderBy(field: string | FieldPath, direction = 'asc') {
      calls.push(['orderBy', field instanceof FieldPath ? '__name__' : field, direction]);
      return query;
    },
    startAfter(...values: unknown[]) {
      calls.push(['startAfter', '', values]);
      return query;
    },
  };
  return query as unknown as Query & { calls: [string, string, unknown][] };
}

/**
 * The composite index a query needs, by Firestore's rules: its equality fields, its array-contains
 * field, then its order (the document name last, which every index carries).
 */
function indexNeeded(calls: [string, string, unknown][]): string[] {
  const wheres = calls
    .filter(([call]) => call === 'where')
    .map(([, field, args]) => [field, (args as [string, unknown])[0]] as const);
  const equal = wheres.filter(([, op]) => op === '==').map(([field]) => `${field}:ascending`);
  const contains = wheres.filter(([, op]) => op === 'array-contains').map(([field]) => `${field}:contains`);
  const order = calls
    .filter(([call, field]) => call === 'orderBy' && field !== '__name__')
    .map(([, field, direction]) => `${field}:${direction === 'desc' ? 'descending' : 'ascending'}`);
  // A range must be on the first field the query orders by.
  const ranged = new Set(
    wheres.filter(([, op]) => ['<', '<=', '>', '>='].includes(op)).map(([field]) => field),
  );
  for (const field of ranged) expect(order[0]?.startsWith(`${field}:`), `range on ${field}`).toBe(true);
  return [...equal, ...contains, ...order];
}

/** Every filter the API can ask for (that its schema accepts). */
function everyFilter(): ExecutionFilter[] {
  const filters: ExecutionFilter[] = [];
  for (const status of [undefined, 'success', 'failed', 'partial_success', 'timeout'] as const)
    for (const processor of [undefined, 'bank_stmt_v1'])
      for (const outcome of [undefined, 'failed', 'timeout'] as const)
        for (const errorCode of [undefined, ...FAILURE_CODES])
          for (const errorText of [undefined, 'vendor'])
            for (const underwritingPrefix of [undefined, 'uw_2024'])
              for (const [since, until] of [
                [undefined, undefined],
                ['2026-01-01T00:00:00Z', undefined],
                ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'],
              ] as const) {
                if (outcome === 'timeout' && (errorCode || errorText)) continue;
                filters.push({
                  status,
                  processor,
                  outcome,
                  errorCode,
                  errorText,
                  underwritingPrefix,
                  since,
                  until,
                  limit: 50,
                });
              }
  return filters;
}

describe('the queries of the operations API and their Firestore indexes', () => {
  const indexes = setupIndexes();
  const key = (fields: string[]) => fields.join(' ');

  it('has an index in deploy/setup.sh for every query the ledger makes, on every page', () => {
    const created = new Set(indexes.map(key));
    const used = new Set<string>([key(UNDERWRITING_HISTORY_INDEX)]);
    const filters = everyFilter();
    expect(filters.length).toBeGreaterThan(1_000);
    for (const filter of filters) {
      const plan = planQuery(filter);
      for (const cursor of [undefined, { at: 1, id: 'x', underwriting: 'uw_1' }]) {
        const query = recordingQuery();
        plannedQuery(query, plan, filter, cursor);
        const needed = indexNeeded(query.calls);
        expect(needed, JSON.stringify(filter)).toEqual(indexOf(plan));
        expect(created.has(key(needed)), `${JSON.stringify(filter)} needs ${key(needed)}`).toBe(true);
        used.add(key(needed));
      }
    }
    // And no index that no query uses (each costs a write per document).
    expect([...created].sort()).toEqual([...used].sort());
  });

  it.each<[string, Partial<ExecutionFilter>, string[]]>([
    ['nothing: every published execution', {}, ['state:ascending', 'completed_at:descending']],
    ['a processor', { processor: 'p' }, ['processor_ids:contains', 'completed_at:descending']],
    [
      'a processor that failed',
      { processor: 'p', outcome: 'failed' },
      ['outcome_tags:contains', 'completed_at:descending'],
    ],
    [
      'an error code, any processor',
      { errorCode: 'PROCESSOR_PAUSED' },
      ['outcome_tags:contains', 'completed_at:descending'],
    ],
    [
      'a status and an error code',
      { status: 'failed', errorCode: 'PROCESSOR_CIRCUIT_OPEN' },
      ['overall_status:ascending', 'outcome_tags:contains', 'completed_at:descending'],
    ],
    [
      'text alone: the executions with a FAILED entry, each checked for the text',
      { errorText: 'x' },
      ['outcome_tags:contains', 'completed_at:descending'],
    ],
    [
      'an underwriting prefix',
      { underwritingPrefix: 'uw', processor: 'p' },
      ['underwriting_id:ascending', 'completed_at:descending'],
    ],
  ])('plans %s', (_case, filter, index) => {
    expect(indexOf(planQuery({ limit: 10, ...filter }))).toEqual(index);
  });

  it('asks for the tag of the processor and code it filters on, and checks text and prefix on each record', () => {
    expect(planQuery({ limit: 1, processor: 'p', errorCode: 'PROCESSOR_PAUSED' }).contains).toEqual({
      field: 'outcome_tags',
      value: 'p/failed/PROCESSOR_PAUSED',
    });
    expect(planQuery({ limit: 1, errorText: 'x' }).contains).toEqual({
      field: 'outcome_tags',
      value: '*/failed',
    });
    expect(planQuery({ limit: 1, errorText: 'x' }).residual).toBe(true);
    expect(planQuery({ limit: 1, underwritingPrefix: 'u' }).residual).toBe(true);
    expect(planQuery({ limit: 1, processor: 'p' }).residual).toBe(false);
  });
});
