import type { DeadLetterBegin } from './dead-letters.js';
import type { Claim, Ledger } from './ledger.js';

const FORWARD_EVERY_TIME: DeadLetterBegin = {
  state: 'claimed',
  claim: { forwarded: () => Promise.resolve(), release: () => Promise.resolve() },
};

const NOTHING_RECORDED: Claim = {
  prior: new Map(),
  record: () => {},
  settle: () => Promise.resolve(),
  published: () => Promise.resolve(),
  release: () => Promise.resolve(),
};

/**
 * `LEDGER=none`: no ledger. Every delivery runs every processor and publishes: a redelivery costs
 * the processors' runs again, and a crash between the publish and the ack publishes twice. Every
 * delivery of a poison message is dead-lettered.
 */
export function createNoLedger(): Ledger {
  return {
    kind: 'none',
    history: undefined,
    begin: () => Promise.resolve({ state: 'claimed', claim: NOTHING_RECORDED }),
    beginDeadLetter: () => Promise.resolve(FORWARD_EVERY_TIME),
    warm: () => Promise.resolve(),
    notReady: () => undefined,
    operations: () => ({ reads: 0, writes: 0 }),
    close: () => Promise.resolve(),
  };
}
