import { describe, expect, it } from 'vitest';

import { checkPushAckDeadline, deadlineBudget, type BudgetProcessor } from '../../src/budget.js';
import { capturingLog } from '../helpers/fixtures.js';

const parts = { graceMs: 1_000, documentsMs: 5_000, publishMs: 60_000 };
const each = (timeoutsMs: number[], policy: Partial<BudgetProcessor> = {}): BudgetProcessor[] =>
  timeoutsMs.map((timeoutMs, i) => ({ id: `p${i}`, timeoutMs, ...policy }));

describe('the deadline budget of one event', () => {
  it('runs every processor at once: the longest deadline counts', () => {
    const budget = deadlineBudget({ ...parts, processors: each([30_000, 180_000, 60_000]) });
    expect(budget).toEqual({
      documentsMs: 5_000,
      processorsMs: 181_000,
      publishMs: 60_000,
      totalMs: 246_000,
    });
  });

  it('bounds any queue order when processors sharing a concurrency key outnumber its limit', () => {
    // 6 runs of 61 s under one limit of 4: 366/4 + (3/4) × 61 = 137.25 s; two waves would be 122 s.
    const shared = each(Array<number>(6).fill(60_000), { concurrency: { limit: 4, key: 'api' } });
    const budget = deadlineBudget({ ...parts, processors: [...shared, ...each([100_000])] });
    expect(budget.processorsMs).toBe(137_250);
    expect(budget.processorsMs).toBeGreaterThanOrEqual(2 * 61_000);
    // A processor's own limit never makes it wait within one event.
    const own = each([60_000, 60_000], { concurrency: { limit: 1 } });
    expect(deadlineBudget({ ...parts, processors: own }).processorsMs).toBe(61_000);
  });

  it('counts every attempt a retry policy allows, and the longest backoff between them', () => {
    const retry = { attempts: 3, backoffMs: 200, maxBackoffMs: 300 };
    // 3 × (10 s + 1 s grace) + 200 ms + min(400, 300) ms.
    expect(deadlineBudget({ ...parts, processors: each([10_000], { retry }) }).processorsMs).toBe(33_500);
  });

  it('counts documents and publish alone when no processor is installed', () => {
    expect(deadlineBudget({ ...parts, processors: [] }).totalMs).toBe(65_000);
  });
});

describe('the push ack deadline check', () => {
  it('warns, naming the variable and each part, when an event can outlive the ack deadline', () => {
    const { log, lines } = capturingLog();
    const budget = deadlineBudget({ ...parts, processors: each([600_000]) });
    expect(checkPushAckDeadline(budget, 600, log)).toBe(false);
    expect(lines).toEqual([
      expect.objectContaining({
        severity: 'WARNING',
        deadline_budget_s: 666,
        processors_s: 601,
        push_ack_deadline_s: 600,
        message: expect.stringMatching(
          /up to 666 s, longer than .* ack deadline of 600 s \(PUSH_ACK_DEADLINE_SECONDS\)/,
        ) as string,
      }),
    ]);
  });

  it('says nothing when the event fits, to the millisecond', () => {
    const { log, lines } = capturingLog();
    const budget = deadlineBudget({ ...parts, processors: each([534_000]) });
    expect(budget.totalMs).toBe(600_000);
    expect(checkPushAckDeadline(budget, 600, log)).toBe(true);
    expect(lines).toEqual([]);
  });
});
