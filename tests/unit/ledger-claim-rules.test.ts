import { describe, expect, it } from 'vitest';

import {
  beginDecision,
  recordDecision,
  reusable,
  type BeginDecision,
  type Held,
  type RecordDecision,
  type RecordedIds,
} from '../../src/ledger/claim-rules.js';

const NOW = 1_000_000;

describe('who may claim a key', () => {
  it.each<[string, Held | undefined, BeginDecision]>([
    ['no record: this delivery claims it', undefined, 'claim'],
    ['published: acked without doing it again', { done: true, leaseUntilMs: NOW + 5 }, 'done'],
    ['published, lease long over: still done', { done: true, leaseUntilMs: 0 }, 'done'],
    ['held by a live delivery: retried later', { done: false, leaseUntilMs: NOW + 1 }, 'elsewhere'],
    [
      'held in this instance (a lease that cannot lapse)',
      { done: false, leaseUntilMs: Infinity },
      'elsewhere',
    ],
    ['its holder’s lease ends now: taken over', { done: false, leaseUntilMs: NOW }, 'take-over'],
    ['released (a lease in the past): taken over', { done: false, leaseUntilMs: -Infinity }, 'take-over'],
  ])('%s', (_case, found, decision) => {
    expect(beginDecision(found, NOW)).toBe(decision);
  });
});

describe('what recording an outcome does to the recorded entry', () => {
  const entry = (executionId: string, executionIds = [executionId]): RecordedIds => ({
    executionId,
    executionIds,
  });
  it.each<[string, RecordedIds | undefined, string, boolean, RecordDecision]>([
    ['first run: its own id', undefined, 'E1', false, { kind: 'entry', executionIds: ['E1'] }],
    [
      'run again on a redelivery: ids add up',
      entry('E1'),
      'E2',
      false,
      { kind: 'entry', executionIds: ['E1', 'E2'] },
    ],
    [
      'the third delivery runs it again',
      entry('E2', ['E1', 'E2']),
      'E3',
      false,
      { kind: 'entry', executionIds: ['E1', 'E2', 'E3'] },
    ],
    [
      'the same run recorded twice: its id once',
      entry('E1'),
      'E1',
      false,
      { kind: 'entry', executionIds: ['E1'] },
    ],
    ['reused from this very record (a redelivery): only the flag', entry('E1'), 'E1', true, { kind: 'flag' }],
    [
      'reused from this record, ids of earlier runs kept',
      entry('E2', ['E1', 'E2']),
      'E2',
      true,
      { kind: 'flag' },
    ],
    [
      'reused from another execution (a re-run): its id alone',
      undefined,
      'E9',
      true,
      { kind: 'entry', executionIds: ['E9'] },
    ],
    [
      'reused from another execution over a run recorded here: its id alone',
      entry('E1'),
      'E9',
      true,
      { kind: 'entry', executionIds: ['E9'] },
    ],
  ])('%s', (_case, earlier, executionId, reused, decision) => {
    expect(recordDecision(earlier, { execution_id: executionId }, reused)).toEqual(decision);
  });

  it('never shares the earlier ids array', () => {
    const earlier = entry('E1');
    const decision = recordDecision(earlier, { execution_id: 'E1' }, false);
    if (decision.kind !== 'entry') throw new Error('expected an entry');
    decision.executionIds.push('X');
    expect(earlier.executionIds).toEqual(['E1']);
  });
});

describe('what a redelivery may reuse from the record', () => {
  it.each([
    ['completed', true],
    ['failed', false],
    ['timeout', false],
  ] as const)('%s: %s', (status, expected) => {
    expect(reusable(status)).toBe(expected);
  });
});
