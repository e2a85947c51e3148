import { describe, expect, it } from 'vitest';

import type { RunOutcome } from '../../src/processors/run.js';
import { rerunTakes, reuseOrRun, type Reuse } from '../../src/reuse.js';

const outcome = (status: RunOutcome['status'], attempts: number, execution_id: string): RunOutcome => {
  const base = { processor_id: 'p', execution_id, execution_time: 1, attempts };
  if (status === 'completed') return { ...base, status, factors: { score: 1 } };
  if (status === 'failed') return { ...base, status, error_message: 'down' };
  return { ...base, status, timeout_ms: 1000, timeout_phase: 'signal' };
};

const recordedDone = outcome('completed', 1, 'REC_DONE');
const recordedFailed = outcome('failed', 2, 'REC_FAILED');
const recordedTimeout = outcome('timeout', 3, 'REC_TIMEOUT');
const earlierDone = outcome('completed', 1, 'EARLIER_DONE');
const earlierFailed = outcome('failed', 1, 'EARLIER_FAILED');

/** The whole rule for processor `p`: what the re-run takes, then recorded-first. */
function decide(
  recorded: RunOutcome | undefined,
  rerun: { earlier: RunOutcome | 'gone' | undefined; named: boolean } | undefined,
): Reuse {
  const taken =
    rerun &&
    rerunTakes(
      rerun.earlier === 'gone' ? undefined : [{ processorId: 'p', outcome: rerun.earlier }],
      rerun.named ? ['p'] : ['other'],
    );
  return reuseOrRun(recorded, taken?.get('p'));
}

describe('reuse on redelivery and re-run', () => {
  it.each<[string, RunOutcome | undefined, Parameters<typeof decide>[1], Reuse]>([
    ['a first delivery runs it', undefined, undefined, { run: { attemptsBefore: 0 } }],
    [
      'a redelivery reuses what an earlier one recorded COMPLETED',
      recordedDone,
      undefined,
      { reuse: recordedDone },
    ],
    [
      'a redelivery runs a recorded FAILED again, counting its attempts on',
      recordedFailed,
      undefined,
      { run: { attemptsBefore: 2 } },
    ],
    [
      'a redelivery runs a recorded TIMEOUT again, counting its attempts on',
      recordedTimeout,
      undefined,
      { run: { attemptsBefore: 3 } },
    ],
    [
      'a re-run takes what it does not name, COMPLETED',
      undefined,
      { earlier: earlierDone, named: false },
      { reuse: earlierDone },
    ],
    [
      'a re-run takes what it does not name, whatever its status',
      undefined,
      { earlier: earlierFailed, named: false },
      { reuse: earlierFailed },
    ],
    [
      'a re-run runs what it names',
      undefined,
      { earlier: earlierDone, named: true },
      { run: { attemptsBefore: 0 } },
    ],
    [
      'a re-run runs what the execution it re-runs had no outcome for',
      undefined,
      { earlier: undefined, named: false },
      { run: { attemptsBefore: 0 } },
    ],
    [
      'a re-run of an execution gone from the ledger runs everything',
      undefined,
      { earlier: 'gone', named: false },
      { run: { attemptsBefore: 0 } },
    ],
    [
      'a redelivered re-run reuses its own recorded COMPLETED before the earlier execution',
      recordedDone,
      { earlier: earlierFailed, named: false },
      { reuse: recordedDone },
    ],
    [
      'a redelivered re-run reuses its own recorded COMPLETED of what it names',
      recordedDone,
      { earlier: earlierDone, named: true },
      { reuse: recordedDone },
    ],
    [
      'a redelivered re-run takes the earlier outcome over its own recorded FAILED',
      recordedFailed,
      { earlier: earlierDone, named: false },
      { reuse: earlierDone },
    ],
    [
      'a redelivered re-run runs what it names again, counting recorded attempts on',
      recordedFailed,
      { earlier: earlierDone, named: true },
      { run: { attemptsBefore: 2 } },
    ],
  ])('%s', (_name, recorded, rerun, expected) => {
    expect(decide(recorded, rerun)).toEqual(expected);
  });

  it('takes every outcome of the re-run execution but those it names and those it has none for', () => {
    const taken = rerunTakes(
      [
        { processorId: 'kept', outcome: earlierDone },
        { processorId: 'flaky', outcome: earlierFailed },
        { processorId: 'never_read', outcome: undefined },
      ],
      ['flaky'],
    );
    expect([...taken]).toEqual([['kept', earlierDone]]);
  });
});
