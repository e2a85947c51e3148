import { describe, expect, it } from 'vitest';

import { deadLetterDecision, type DeadLetterState } from '../../src/ledger/dead-letters.js';
import { createMemoryLedger } from '../../src/ledger/memory.js';

describe('a poison message’s forwarding, as the ledger decides it', () => {
  const NOW = 1_000_000;
  it.each<[string, DeadLetterState | undefined, ReturnType<typeof deadLetterDecision>]>([
    ['no record: this delivery claims it', undefined, 'claim'],
    ['forwarded: acked without forwarding again', { state: 'forwarded', leaseUntilMs: NOW + 5 }, 'forwarded'],
    ['forwarded, lease long over: still forwarded', { state: 'forwarded', leaseUntilMs: 0 }, 'forwarded'],
    [
      'being forwarded by a live delivery: retried later',
      { state: 'forwarding', leaseUntilMs: NOW + 1 },
      'elsewhere',
    ],
    ['its holder’s lease ran out: taken over', { state: 'forwarding', leaseUntilMs: NOW }, 'take-over'],
  ])('%s', (_case, found, decision) => {
    expect(deadLetterDecision(found, NOW)).toBe(decision);
  });

  it('is remembered by the memory ledger for its most recent messages only', async () => {
    const ledger = createMemoryLedger({ executions: 2, bytes: 1_000_000 });
    for (const id of ['a', 'b', 'c']) {
      const begun = await ledger.beginDeadLetter(id);
      if (begun.state !== 'claimed') throw new Error(`${id} was not claimed`);
      await begun.claim.forwarded();
    }
    expect((await ledger.beginDeadLetter('c')).state).toBe('forwarded');
    expect((await ledger.beginDeadLetter('b')).state).toBe('forwarded');
    // Forgotten: the oldest past the bound.
    expect((await ledger.beginDeadLetter('a')).state).toBe('claimed');
  });
});
