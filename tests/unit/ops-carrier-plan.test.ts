// The rest of a bulk re-run carrier's decisions (stepsOf, the pace and settleItem are in
// outage-decisions.test.ts), each a table: whose job it may take, when it renews its lease, when it
// turns next, how a job ends, and what one request or follow turn makes of the items.
import { describe, expect, it } from 'vitest';

import type { ExecutionRecord, RecordedRun } from '../../src/ledger/history.js';
import { NO_COUNTS, type RerunItem } from '../../src/ledger/ops-records.js';
import {
  addCounts,
  endState,
  itemsOf,
  leaseDue,
  mayCarry,
  nextTurnMs,
  requestItems,
  settleItems,
} from '../../src/ops/carrier-plan.js';

describe("a bulk re-run carrier's decisions", () => {
  it.each([
    // case, active, owner, lease until, may carry at 1000
    ['its own job', true, 'me', 5_000, true],
    ['a job whose holder is gone (lease over)', true, 'other', 1_000, true],
    ['a job another instance holds', true, 'other', 1_001, false],
    ['a job that is over, even its own', false, 'me', 0, false],
  ] as const)('takes %s: %s', (_case, active, owner, leaseUntil, may) => {
    expect(mayCarry({ active, owner, lease_until: leaseUntil }, 'me', 1_000)).toBe(may);
  });

  it.each([
    // lease until, now, lease ms, due
    [20_000, 10_000, 15_000, false],
    [17_500, 10_000, 15_000, false],
    [17_499, 10_000, 15_000, true],
    [9_000, 10_000, 15_000, true],
  ])('renews a lease running until %i at %i (lease %i ms): %s', (until, now, leaseMs, due) => {
    expect(leaseDue({ lease_until: until }, now, leaseMs)).toBe(due);
  });

  it.each([
    [true, false, 1_000],
    [false, true, 1_000],
    [false, false, 10_000],
  ])('turns again, holding %s and woken %s, after %i ms', (holding, woken, ms) => {
    expect(nextTurnMs(holding, woken, { tickMs: 1_000, idleMs: 10_000 })).toBe(ms);
  });

  it.each([
    ['running', 'done'],
    ['cancelled', 'cancelled'],
    ['done', 'done'],
  ] as const)('ends a %s job as %s', (state, end) => {
    expect(endState(state)).toBe(end);
  });

  it("adds a write's counters to the job's", () => {
    const before = { ...NO_COUNTS, selected: 5, requested: 2 };
    expect(addCounts(before, { requested: 1, skipped: 2 })).toEqual({ ...before, requested: 3, skipped: 2 });
    expect(addCounts(before, undefined)).toEqual(before);
    expect(before.requested).toBe(2);
  });

  it('stores a selection as pending items, one per underwriting, under ids a document may have', () => {
    const [item] = itemsOf([
      { underwriting_id: 'uw/1', of: 'k1', processors: ['p'], completed_at: 't', error_message: null },
    ]);
    expect(item).toEqual({
      id: Buffer.from('uw/1').toString('base64url'),
      underwriting_id: 'uw/1',
      of: 'k1',
      processors: ['p'],
      state: 'pending',
      key: null,
      requested_at: null,
      published: false,
      note: null,
    });
    expect(item?.id).not.toContain('/');
  });

  const pending = (uw: string, of: string): RerunItem => ({
    ...itemsOf([{ underwriting_id: uw, of, processors: ['p'], completed_at: 't', error_message: null }])[0]!,
  });
  const latest = (key: string, finishedAt: string | null) => ({ key, finishedAt }) as ExecutionRecord;

  it('requests what is still the latest finished execution, and skips the rest saying why', () => {
    let minted = 0;
    const { items, counts } = requestItems(
      [pending('a', 'k1'), pending('b', 'k2'), pending('c', 'k3'), pending('d', 'k4')],
      [latest('k1', 't'), latest('k9', 't'), undefined, latest('k4', null)],
      5_000,
      () => `key${++minted}`,
    );
    expect(items.map((i) => [i.underwriting_id, i.state, i.key, i.requested_at, i.note])).toEqual([
      ['a', 'requested', 'key1', 5_000, null],
      ['b', 'skipped', null, null, 'the underwriting has a newer execution (k9)'],
      ['c', 'skipped', null, null, 'the execution is no longer in the ledger'],
      ['d', 'skipped', null, null, 'the execution has not finished'],
    ]);
    expect(items[0]?.published).toBe(false);
    expect(counts).toEqual({ requested: 1, skipped: 3 });
  });

  const run = (processorId: string, status: RecordedRun['status']) =>
    ({ processorId, status, errorCode: null }) as RecordedRun;
  const requested = (uw: string, at: number): RerunItem => ({
    ...pending(uw, 'k'),
    state: 'requested',
    key: `r-${uw}`,
    requested_at: at,
    published: true,
  });

  it('settles the requests whose re-run has a result, and counts them', () => {
    const { settled, counts } = settleItems(
      [requested('a', 90_000), requested('b', 90_000), requested('c', 90_000), requested('d', 0)],
      [
        { finishedAt: 't', runs: [run('p', 'completed')] },
        { finishedAt: 't', runs: [run('p', 'timeout')] },
        { finishedAt: null, runs: [] },
        undefined,
      ],
      100_000,
      60_000,
    );
    expect(settled.map((i) => [i.underwriting_id, i.state, i.note])).toEqual([
      ['a', 'finished', null],
      ['b', 'failed', 'still not completed: p timeout'],
      ['d', 'failed', 'no result within 1 min of the request'],
    ]);
    expect(counts).toEqual({ finished: 1, failed: 2 });
  });
});
