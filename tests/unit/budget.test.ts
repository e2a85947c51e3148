import { describe, expect, it } from 'vitest';

import { checkPushAckDeadline, deadlineBudget } from '../../src/budget.js';
import { capturingLog } from '../helpers/fixtures.js';

const parts = { threads: 4, graceMs: 1_000, documentsMs: 5_000, publishMs: 60_000 };

describe('the deadline budget of one event', () => {
  it('runs every processor at once when there are threads for all: the longest deadline counts', () => {
    const budget = deadlineBudget({ ...parts, timeoutsMs: [30_000, 180_000, 60_000] });
    expect(budget).toEqual({
      documentsMs: 5_000,
      processorsMs: 181_000,
      publishMs: 60_000,
      totalMs: 246_000,
    });
  });

  it('bounds any queue order when processors outnumber threads', () => {
    // 6 runs of 61 s on 4 threads: 366/4 + (3/4) × 61 = 137.25 s; two waves would be 122 s.
    const budget = deadlineBudget({ ...parts, timeoutsMs: Array<number>(6).fill(60_000) });
    expect(budget.processorsMs).toBe(137_250);
    expect(budget.processorsMs).toBeGreaterThanOrEqual(2 * 61_000);
  });

  it('counts documents and publish alone when no processor is installed', () => {
    expect(deadlineBudget({ ...parts, timeoutsMs: [] }).totalMs).toBe(65_000);
  });
});

describe('the push ack deadline check', () => {
  it('warns, naming the variable and each part, when an event can outlive the ack deadline', () => {
    const { log, lines } = capturingLog();
    const budget = deadlineBudget({ ...parts, timeoutsMs: [600_000] });
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
    const budget = deadlineBudget({ ...parts, timeoutsMs: [534_000] });
    expect(budget.totalMs).toBe(600_000);
    expect(checkPushAckDeadline(budget, 600, log)).toBe(true);
    expect(lines).toEqual([]);
  });
});
