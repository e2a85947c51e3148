import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

import type { OrchestratorError } from '../../src/errors.js';
import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import { documentId, type Claim, type Ledger } from '../../src/ledger/ledger.js';
import { executionConverter } from '../../src/ledger/firestore/converter.js';
import { group } from '../../src/orchestrator.js';
import type { RunOutcome } from '../../src/processors/run.js';
import { newExecutionId } from '../../src/processors/execution-id.js';
import { emulatorFirestore, emulatorLedger } from '../helpers/firestore.js';
import { ledgerContract, rejection } from '../helpers/ledger-contract.js';

const host = inject('firestoreEmulatorHost');
const ledgers: Ledger[] = [];

function ledger(options: Parameters<typeof emulatorLedger>[1] = {}) {
  const created = emulatorLedger(host, options);
  ledgers.push(created);
  return created;
}

// The service warms its ledger before it takes events: the client's first call loads its protocol
// files, seconds of CPU on a busy machine, past the bound of one call (FIRESTORE_DEFAULTS).
beforeAll(async () => {
  const first = emulatorLedger(host);
  await first.warm();
  await first.close();
});

afterEach(async () => {
  await Promise.all(ledgers.splice(0).map((l) => l.close()));
});

const execution = (key: string) => ({ key, underwritingId: 'uw_1', sourceMessageId: `m-${key}` });

const completed = (id: string, factors: Record<string, unknown> = { n: 1 }): RunOutcome =>
  ({
    status: 'completed',
    processor_id: id,
    execution_id: newExecutionId(),
    execution_time: 0.5,
    attempts: 1,
    factors,
  }) as RunOutcome;

function resultOf(entries: RunOutcome[]): ProcessingCompleted {
  return group('uw_1', entries, 1);
}

async function claimOf(l: Ledger, key: string): Promise<Claim> {
  const begun = await l.begin(execution(key));
  if (begun.state !== 'claimed') throw new Error(`expected a claim, got ${begun.state}`);
  return begun.claim;
}

ledgerContract('firestore (on the emulator)', () => emulatorLedger(host));

describe('Firestore ledger (on the emulator)', () => {
  it('costs 3 writes and no read for a first delivery that completes, whatever its number of processors', async () => {
    const l = ledger();
    const claim = await claimOf(l, 'k-common');
    const entries = Array.from({ length: 25 }, (_, i) => completed(`p_${i}`));
    entries.forEach((e) => claim.record(e));
    const result = resultOf(entries);
    await claim.settle(result);
    await claim.published(result);
    expect(l.operations()).toEqual({ reads: 0, writes: 3 });
  });

  it('acks a redelivery after the publish: one read, no write', async () => {
    const l = ledger();
    const claim = await claimOf(l, 'k-pub');
    const result = resultOf([completed('a')]);
    claim.record(completed('a'));
    await claim.settle(result);
    await claim.published(result);
    const before = l.operations();
    const again = await l.begin(execution('k-pub'));
    expect(again.state).toBe('published');
    expect(l.operations()).toEqual({ reads: before.reads + 1, writes: before.writes });
  });

  it('lets exactly one of many parallel deliveries of one key claim it (create, not a transaction)', async () => {
    const instances = [ledger(), ledger(), ledger()];
    const collection = instances[0]!.collection;
    const sharing = [instances[0]!, ...[1, 2].map(() => ledger({ collection }))];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => sharing[i % sharing.length]!.begin(execution('k-race'))),
    );
    const claimed = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(claimed).toHaveLength(1);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect((r.reason as OrchestratorError).code).toBe('IN_PROGRESS_ELSEWHERE');
  });

  it('lets one of many parallel deliveries of a poison message forward it, and acks every later one without forwarding again', async () => {
    const first = ledger();
    const sharing = [
      first,
      ledger({ collection: first.collection }),
      ledger({ collection: first.collection }),
    ];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => sharing[i % sharing.length]!.beginDeadLetter('m-poison')),
    );
    const claimed = outcomes.flatMap((o) =>
      o.status === 'fulfilled' && o.value.state === 'claimed' ? [o.value.claim] : [],
    );
    expect(claimed).toHaveLength(1);
    for (const o of outcomes.filter((r) => r.status === 'rejected')) {
      expect((o.reason as OrchestratorError).code).toBe('IN_PROGRESS_ELSEWHERE');
    }
    await claimed[0]!.forwarded();
    for (const l of sharing) expect(await l.beginDeadLetter('m-poison')).toEqual({ state: 'forwarded' });
    // Beside the executions, under an id no execution's key hashes to, with the same retention.
    const db = emulatorFirestore(host);
    try {
      const [record] = (await db.collection(first.collection).get()).docs;
      expect(record?.id).toMatch(/^dead-letter-[0-9a-f]{64}$/);
      expect(record?.data()).toMatchObject({
        kind: 'dead-letter',
        source_message_id: 'm-poison',
        state: 'forwarded',
      });
      expect(await first.history?.underwriting('uw_1', 10)).toEqual([]);
    } finally {
      await db.terminate();
    }
  });

  it('lets the next delivery forward a poison message whose forward failed (released) or whose holder stalled', async () => {
    const a = ledger({ leaseMs: 1_000 });
    const b = ledger({ collection: a.collection, leaseMs: 1_000 });
    const released = await a.beginDeadLetter('m-released');
    if (released.state !== 'claimed') throw new Error('expected a claim');
    await released.claim.release();
    expect((await b.beginDeadLetter('m-released')).state).toBe('claimed');

    const stalled = await a.beginDeadLetter('m-stalled');
    if (stalled.state !== 'claimed') throw new Error('expected a claim');
    expect((await rejection(b.beginDeadLetter('m-stalled'))).code).toBe('IN_PROGRESS_ELSEWHERE');
    await sleep(1_200);
    const taken = await b.beginDeadLetter('m-stalled');
    expect(taken.state).toBe('claimed');
    // The stalled holder can no longer mark it: the one that took over does.
    await expect(stalled.claim.forwarded()).rejects.toThrow();
  });

  it('lets another delivery take over a key whose holder stopped renewing its lease, and the old holder can then write nothing', async () => {
    const a = ledger({ leaseMs: 1_000, checkpointMs: 60_000 });
    const b = ledger({ collection: a.collection, leaseMs: 1_000 });
    const stalled = await claimOf(a, 'k-lease');
    stalled.record(completed('first'));
    await expect(b.begin(execution('k-lease'))).rejects.toThrow(/in progress/);
    await sleep(1_200);
    const taken = await claimOf(b, 'k-lease');
    expect(taken.prior.size).toBe(0);
    const error = await rejection(stalled.settle(resultOf([completed('first')])));
    expect(error.code).toBe('IN_PROGRESS_ELSEWHERE');
  });

  it("renews a live holder's lease and writes its settled outcomes while it works", async () => {
    const a = ledger({ leaseMs: 1_500, checkpointMs: 250 });
    const b = ledger({ collection: a.collection, leaseMs: 1_500 });
    const working = await claimOf(a, 'k-renew');
    working.record(completed('early'));
    const db = emulatorFirestore(host);
    try {
      const ref = db.collection(a.collection).doc(documentId('k-renew')).withConverter(executionConverter);
      // The checkpoint wrote the outcome without being asked.
      for (let i = 0; i < 100; i++) {
        const stored = (await ref.get()).data();
        if (stored?.processors['early']) break;
        await sleep(100);
      }
      expect((await ref.get()).data()?.processors['early']?.status).toBe('completed');
      await sleep(2_000);
      await expect(b.begin(execution('k-renew'))).rejects.toThrow(/in progress/);
    } finally {
      await db.terminate();
    }
  });

  it("stores a result far larger than a Firestore document (up to Pub/Sub's 10 MB) and reads it back whole", async () => {
    const l = ledger();
    const first = await claimOf(l, 'k-large');
    const huge = completed('huge', { blob: 'é'.repeat(4 * 1024 * 1024), list: [[1, 2], [3]] });
    const small = completed('small');
    first.record(huge);
    first.record(small);
    await first.settle(resultOf([huge, small]));
    await first.release();
    const second = await claimOf(l, 'k-large');
    expect(second.prior.get('huge')).toEqual(huge);
    expect(second.prior.get('small')).toEqual(small);
  });

  it('keys documents by a hash of the key and stamps expireAt LEDGER_TTL_DAYS ahead', async () => {
    const l = ledger({ ttlDays: 7 });
    await claimOf(l, 'k-ttl');
    const db = emulatorFirestore(host);
    try {
      const snapshot = await db
        .collection(l.collection)
        .doc(documentId('k-ttl'))
        .withConverter(executionConverter)
        .get();
      const stored = snapshot.data();
      expect(snapshot.id).toMatch(/^[0-9a-f]{64}$/);
      expect(stored?.key).toBe('k-ttl');
      const days = ((stored?.expireAt.toMillis() ?? 0) - (stored?.created_at.toMillis() ?? 0)) / 86_400_000;
      expect(days).toBe(7);
    } finally {
      await db.terminate();
    }
  });

  it('is LEDGER_UNAVAILABLE, and not ready, when Firestore does not answer within its bound', async () => {
    const l = ledger({ emulatorHost: '127.0.0.1:9', timeoutMs: 500 });
    const started = Date.now();
    const error = await rejection(l.begin(execution('k-down')));
    expect(error.code).toBe('LEDGER_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(l.notReady()).toMatch(/claim/);
  });

  it('answers a stored document it cannot read with an error naming it, and stays available', async () => {
    const l = ledger();
    const db = emulatorFirestore(host);
    const path = `${l.collection}/${documentId('k-bad')}`;
    try {
      await db.doc(path).set({ key: 'k-bad', state: 'running', lease_until: 'soon', processors: {} });
    } finally {
      await db.terminate();
    }
    const reads = [
      () => l.begin(execution('k-bad')),
      () => l.history?.execution('k-bad') ?? Promise.resolve(),
    ];
    for (const read of reads) {
      const error = await rejection(read());
      expect(error.code).toBe('UNEXPECTED');
      expect(error.message).toContain(`document ${path} is not an execution this version reads`);
    }
    expect(l.notReady()).toBeUndefined();
  });
});
