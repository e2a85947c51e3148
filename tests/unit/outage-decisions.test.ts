// The decisions behind pauses and bulk re-runs, each a table: how fresh the pauses the hot path
// acts on are, and what a bulk re-run job's carrier does next.
import { describe, expect, it } from 'vitest';

import { createPauseCache } from '../../src/guard/pause-cache.js';
import type { ExecutionRecord, RecordedRun } from '../../src/ledger/history.js';
import {
  NO_COUNTS,
  type Pause,
  type RerunCounts,
  type StoredRerunJob,
} from '../../src/ledger/ops-records.js';
import { inProgressOf, pendingOf, requestBudget, settleItem, stepsOf } from '../../src/ops/carrier-plan.js';
import { supersededBy } from '../../src/ops/selection.js';
import { capturingLog } from '../helpers/fixtures.js';

const pause = (id: string): Pause => ({
  processor_id: id,
  paused_by: 'a@x.io',
  paused_at: '2026-01-01T00:00:00.000Z',
  reason: 'r',
});

describe('the pauses the hot path reads', () => {
  function cached(lists: (Pause[] | Error)[]) {
    let now = 0;
    let reads = 0;
    const { log, lines } = capturingLog();
    const cache = createPauseCache(
      {
        list: () => {
          const next = lists[Math.min(reads, lists.length - 1)];
          reads += 1;
          return next instanceof Error ? Promise.reject(next) : Promise.resolve(next ?? []);
        },
      },
      log,
      { now: () => now },
    );
    return {
      cache,
      lines,
      reads: () => reads,
      at: (ms: number) => {
        now = ms;
      },
    };
  }

  it.each<[string, number, number, boolean]>([
    // [case, age of the last read (ms), reads afterwards, whether the event waited for a read]
    ['a read younger than 2 s is used as it is', 1_999, 1, false],
    ['a read 2–4 s old is used while one read refreshes it', 3_000, 2, false],
    ['a read older than 4 s is never acted on: the event waits for a new one', 4_001, 2, true],
  ])('%s', async (_case, age, readsAfter, waited) => {
    const c = cached([[], [pause('p')]]);
    c.at(0);
    await c.cache.current();
    c.at(age);
    const seen = await c.cache.current();
    expect(c.reads()).toBe(readsAfter);
    expect(seen.has('p')).toBe(waited);
  });

  it('reads once for many events at the same time, and once after a change made here', async () => {
    const c = cached([[pause('p')], []]);
    c.at(10_000);
    const all = await Promise.all([c.cache.current(), c.cache.current(), c.cache.current()]);
    expect(c.reads()).toBe(1);
    expect(all.every((m) => m.has('p'))).toBe(true);
    await c.cache.refresh();
    expect((await c.cache.current()).has('p')).toBe(false);
    expect(c.reads()).toBe(2);
  });

  it('keeps acting on the last pauses read when a read fails, says so once, and tries again after 2 s', async () => {
    const c = cached([[pause('p')], new Error('unavailable'), new Error('unavailable'), []]);
    c.at(0);
    await c.cache.current();
    c.at(5_000);
    expect((await c.cache.current()).has('p')).toBe(true);
    c.at(5_500);
    expect((await c.cache.current()).has('p')).toBe(true);
    expect(c.reads()).toBe(2);
    c.at(9_100);
    await c.cache.current();
    c.at(13_200);
    expect((await c.cache.current()).has('p')).toBe(false);
    expect(
      c.lines.filter((l) => l['message'] === 'cannot read the pauses; acting on the last ones read'),
    ).toHaveLength(1);
    expect(c.lines.some((l) => l['message'] === 'pauses read again')).toBe(true);
  });
});

const counts = (c: Partial<RerunCounts>): RerunCounts => ({ ...NO_COUNTS, ...c });
const job = (state: StoredRerunJob['state'], c: Partial<RerunCounts>, active = true) => ({
  state,
  counts: counts(c),
  active,
});

describe("a bulk re-run job's carrier", () => {
  it.each<[string, ReturnType<typeof job>, string[]]>([
    ['selects a job still selecting', job('selecting', {}), ['select']],
    ['requests while underwritings are pending', job('running', { selected: 5 }), ['request']],
    ['requests and follows', job('running', { selected: 5, requested: 2 }), ['request', 'follow']],
    [
      'only follows once all are requested or skipped',
      job('running', { selected: 5, requested: 4, skipped: 1, finished: 3 }),
      ['follow'],
    ],
    [
      'finishes when every request has a result',
      job('running', { selected: 5, requested: 4, skipped: 1, finished: 3, failed: 1 }),
      ['finish'],
    ],
    [
      'requests nothing more once cancelled, but follows',
      job('cancelled', { selected: 5, requested: 2, finished: 1 }),
      ['follow'],
    ],
    [
      'finishes a cancelled job once what it requested is followed',
      job('cancelled', { selected: 5, requested: 2, finished: 2 }),
      ['finish'],
    ],
    [
      'does nothing with a job that is over',
      job('done', { selected: 1, requested: 1, finished: 1 }, false),
      [],
    ],
  ])('%s', (_case, j, steps) => {
    expect(stepsOf(j)).toEqual(steps);
  });

  it('counts pending and in-progress items from the counters', () => {
    const c = { counts: counts({ selected: 10, requested: 6, skipped: 1, finished: 2, failed: 1 }) };
    expect(pendingOf(c)).toBe(3);
    expect(inProgressOf(c)).toBe(3);
  });

  it.each<[string, number, number, number, number, { count: number; carry: number }]>([
    // [case, pace/s, last request (ms), carry, now (ms), budget]
    ['2/s, one second on: two', 2, 0, 0, 1_000, { count: 2, carry: 0 }],
    ['2/s, a quarter second on: none yet, half a request carried', 2, 0, 0, 250, { count: 0, carry: 0.5 }],
    ['0.25/s, carried to a whole one', 0.25, 0, 0.75, 1_000, { count: 1, carry: 0 }],
    ['no burst after a long pause: one second of pace at most', 2, 0, 0, 60_000, { count: 2, carry: 0 }],
    ['slow paces may send one at a time', 0.1, 0, 0, 60_000, { count: 1, carry: 0 }],
  ])('paces: %s', (_case, pace, last, carry, now, budget) => {
    const got = requestBudget(pace, last, carry, now);
    expect(got.count).toBe(budget.count);
    expect(got.carry).toBeCloseTo(budget.carry);
  });

  const run = (
    processorId: string,
    status: RecordedRun['status'],
    errorCode: RecordedRun['errorCode'] = null,
  ) => ({ processorId, status, errorCode }) as RecordedRun;
  const execution = (finishedAt: string | null, runs: RecordedRun[]) => ({ finishedAt, runs });
  const item = { processors: ['p1', 'p2'], requested_at: 1_000 };

  it.each<[string, ReturnType<typeof execution> | undefined, number, ReturnType<typeof settleItem>]>([
    ['not recorded yet: waits', undefined, 5_000, undefined],
    ['running: waits', execution(null, []), 5_000, undefined],
    [
      'published, every selected processor completed: finished',
      execution('t', [run('p1', 'completed'), run('p2', 'completed'), run('p3', 'failed')]),
      5_000,
      { state: 'finished', note: null },
    ],
    [
      'published, one still failing: failed, saying which',
      execution('t', [run('p1', 'completed'), run('p2', 'failed', 'PROCESSOR_CIRCUIT_OPEN')]),
      5_000,
      { state: 'failed', note: 'still not completed: p2 failed (PROCESSOR_CIRCUIT_OPEN)' },
    ],
    [
      'no result an hour after the request: failed',
      undefined,
      1_000 + 3_600_001,
      { state: 'failed', note: 'no result within 60 min of the request' },
    ],
  ])('follows a request: %s', (_case, found, now, verdict) => {
    expect(settleItem(item, found, now, 3_600_000)).toEqual(verdict);
  });

  const latest = (key: string, finishedAt: string | null) => ({ key, finishedAt }) as ExecutionRecord;
  it.each<[string, ExecutionRecord | undefined, string | undefined]>([
    ['still the latest, finished: requested', latest('k1', 't'), undefined],
    [
      're-run since (a newer execution): skipped',
      latest('k2', 't'),
      'the underwriting has a newer execution (k2)',
    ],
    ['gone from the ledger: skipped', undefined, 'the execution is no longer in the ledger'],
    ['not finished: skipped', latest('k1', null), 'the execution has not finished'],
  ])('before requesting an underwriting: %s', (_case, found, why) => {
    expect(supersededBy('k1', found)).toBe(why);
  });
});
