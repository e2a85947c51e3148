import { afterEach, describe, expect, it } from 'vitest';

import { OrchestratorError } from '../../src/errors.js';
import type { Factors, ProcessingCompleted } from '../../src/events/processing-completed.js';
import type { Claim, Execution, Ledger } from '../../src/ledger/ledger.js';
import { group } from '../../src/orchestrator.js';
import { newExecutionId } from '../../src/processors/execution-id.js';
import type { RunOutcome } from '../../src/processors/run.js';

export const completed = (id: string, time = 1, factors: Factors = { ok: true }): RunOutcome => ({
  status: 'completed',
  processor_id: id,
  execution_id: newExecutionId(),
  execution_time: time,
  attempts: 1,
  factors,
});

export const failed = (id: string, attempts = 1): RunOutcome => ({
  status: 'failed',
  processor_id: id,
  execution_id: newExecutionId(),
  execution_time: 0.5,
  attempts,
  error_message: 'down <img src=x onerror=alert(1)>',
});

/** The published event of `outcomes`, completed at `at` (default: now). */
export function resultOf(underwritingId: string, outcomes: RunOutcome[], at?: string): ProcessingCompleted {
  const result = group(underwritingId, outcomes, 1);
  return at === undefined ? result : { ...result, completed_at: at };
}

const execution = (key: string, underwritingId = 'uw_1'): Execution => ({
  key,
  underwritingId,
  sourceMessageId: `m-${key}`,
});

async function claimOf(ledger: Ledger, key: string, underwritingId?: string): Promise<Claim> {
  const begun = await ledger.begin(execution(key, underwritingId));
  if (begun.state !== 'claimed') throw new Error(`expected a claim, got ${begun.state}`);
  return begun.claim;
}

/** The OrchestratorError `promise` rejects with (anything else fails the test). */
export async function rejection(promise: Promise<unknown>): Promise<OrchestratorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof OrchestratorError))
    throw new Error(`expected an OrchestratorError, got ${String(error)}`);
  return error;
}

/** A ledger holding three published executions of uw_a, uw_b, uw_c, completed in that order. */
async function ledgerWithThree(ledger: Ledger): Promise<Ledger> {
  const executions: [string, string, RunOutcome[]][] = [
    ['k-a', 'uw_a', [completed('p1', 1), completed('p2', 3)]],
    ['k-b', 'uw_b', [completed('p1', 2), failed('p2')]],
    ['k-c', 'uw_c', [completed('p1', 4)]],
  ];
  for (const [i, [key, uw, outcomes]] of executions.entries()) {
    const begun = await ledger.begin({ ...execution(key, uw), sourceMessageId: key, documents: ['doc_001'] });
    if (begun.state !== 'claimed') throw new Error('expected a claim');
    for (const o of outcomes) begun.claim.record(o, { reused: false, queueWait: 0.25 });
    await begun.claim.published(resultOf(uw, outcomes, `2024-01-15T10:0${i}:00.000Z`), `out-${key}`);
  }
  return ledger;
}

/**
 * The behaviour every ledger that remembers (memory, firestore) keeps, run against each one as
 * Watermill runs its Pub/Sub test suite against each Pub/Sub: `make()` opens a fresh, empty
 * ledger (closed after each test). What only one ledger does (Firestore's costs, leases and
 * parts; memory's bounds) is tested beside the call.
 */
export function ledgerContract(name: string, make: () => Ledger): void {
  describe(`${name}: the ledger contract`, () => {
    const opened: Ledger[] = [];
    const ledger = () => {
      const made = make();
      opened.push(made);
      return made;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((l) => l.close()));
    });

    describe('claims', () => {
      it('refuses a second delivery while the first holds the key, as retryable IN_PROGRESS_ELSEWHERE', async () => {
        const l = ledger();
        await claimOf(l, 'k-held');
        const error = await rejection(l.begin(execution('k-held')));
        expect(error.code).toBe('IN_PROGRESS_ELSEWHERE');
        expect(error.retryable).toBe(true);
      });

      it('hands the recorded outcomes to the next claim after a release, counting attempts across deliveries', async () => {
        const l = ledger();
        const first = await claimOf(l, 'k-retry');
        const done = completed('done', 1, { big: 'x'.repeat(10) });
        first.record(done);
        first.record(failed('flaky'));
        await first.release();

        const second = await claimOf(l, 'k-retry');
        expect(second.prior.get('done')).toEqual(done);
        expect(second.prior.get('flaky')).toMatchObject({ status: 'failed', attempts: 1 });
        // The orchestrator counts on from the recorded attempts; the ledger keeps what it is given.
        second.record(failed('flaky', 2));
        await second.release();

        const third = await claimOf(l, 'k-retry');
        expect(third.prior.get('flaky')?.attempts).toBe(2);
        expect(third.prior.get('done')).toEqual(done);
      });

      it('acks every delivery once published, without a claim', async () => {
        const l = ledger();
        const claim = await claimOf(l, 'k-pub');
        const outcomes = [completed('a')];
        claim.record(outcomes[0]!);
        const result = resultOf('uw_1', outcomes);
        await claim.settle(result);
        await claim.published(result, 'out-1');
        for (let i = 0; i < 2; i++) {
          const again = await l.begin(execution('k-pub'));
          expect(again.state).toBe('published');
          if (again.state === 'published') expect(Number.isNaN(Date.parse(again.publishedAt))).toBe(false);
        }
      });

      it('lets a released claim record nothing more, and the next delivery claim the key at once', async () => {
        const l = ledger();
        const first = await claimOf(l, 'k-released');
        first.record(completed('early'));
        await first.release();
        first.record(completed('late'));
        const second = await claimOf(l, 'k-released');
        expect([...second.prior.keys()]).toEqual(['early']);
      });
    });

    describe('dead letters', () => {
      it('lets one delivery forward a poison message, retries the others while it holds it, and acks every later one', async () => {
        const l = ledger();
        const first = await l.beginDeadLetter('m-poison');
        if (first.state !== 'claimed') throw new Error('expected a claim');
        expect((await rejection(l.beginDeadLetter('m-poison'))).code).toBe('IN_PROGRESS_ELSEWHERE');
        await first.claim.forwarded();
        expect(await l.beginDeadLetter('m-poison')).toEqual({ state: 'forwarded' });
      });

      it('lets the next delivery forward a poison message whose forward failed (released)', async () => {
        const l = ledger();
        const first = await l.beginDeadLetter('m-released');
        if (first.state !== 'claimed') throw new Error('expected a claim');
        await first.claim.release();
        expect((await l.beginDeadLetter('m-released')).state).toBe('claimed');
      });
    });

    describe('history', () => {
      it('pages finished executions, the most recently completed first, and filters them', async () => {
        const history = (await ledgerWithThree(ledger())).history;
        if (!history) throw new Error(`${name} has a history`);
        const keys: string[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await history.executions({ limit: 2, cursor });
          keys.push(...page.records.map((r) => r.key));
          if (page.next === null) break;
          cursor = page.next;
        }
        expect(keys).toEqual(['k-c', 'k-b', 'k-a']);
        const keysOf = async (filter: Parameters<typeof history.executions>[0]) =>
          (await history.executions(filter)).records.map((r) => r.key);
        expect(await keysOf({ limit: 10, status: 'partial_success' })).toEqual(['k-b']);
        expect(await keysOf({ limit: 10, processor: 'p2' })).toEqual(['k-b', 'k-a']);
        expect(await keysOf({ limit: 10, since: '2024-01-15T10:01:00.000Z' })).toEqual(['k-c', 'k-b']);
        expect(await keysOf({ limit: 10, status: 'timeout' })).toEqual([]);
        await expect(history.executions({ limit: 10, cursor: 'nonsense' })).rejects.toMatchObject({
          code: 'REQUEST_INVALID',
        });
      });

      it('finds runs by outcome, error code, error text, time range and underwriting prefix, paging by cursor', async () => {
        const history = (await ledgerWithThree(ledger())).history;
        if (!history) throw new Error(`${name} has a history`);
        const keysOf = async (filter: Omit<Parameters<typeof history.executions>[0], 'limit'>) =>
          (await history.executions({ limit: 10, ...filter })).records.map((r) => r.key);
        expect(await keysOf({ outcome: 'failed' })).toEqual(['k-b']);
        expect(await keysOf({ processor: 'p1', outcome: 'failed' })).toEqual([]);
        expect(await keysOf({ processor: 'p2', errorCode: 'PROCESSOR_FAILED' })).toEqual(['k-b']);
        expect(await keysOf({ errorCode: 'PROCESSOR_PAUSED' })).toEqual([]);
        expect(await keysOf({ errorText: 'DOWN <IMG' })).toEqual(['k-b']);
        expect(await keysOf({ processor: 'p1', errorText: 'down' })).toEqual([]);
        expect(await keysOf({ outcome: 'timeout' })).toEqual([]);
        expect(await keysOf({ until: '2024-01-15T10:01:00.000Z' })).toEqual(['k-b', 'k-a']);
        expect(
          await keysOf({ since: '2024-01-15T10:01:00.000Z', until: '2024-01-15T10:01:00.000Z' }),
        ).toEqual(['k-b']);
        expect(await keysOf({ underwritingPrefix: 'uw_' })).toEqual(['k-a', 'k-b', 'k-c']);
        expect(await keysOf({ underwritingPrefix: 'uw_b' })).toEqual(['k-b']);
        // By underwriting id, page by page.
        const paged: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await history.executions({ limit: 1, underwritingPrefix: 'uw', cursor });
          paged.push(...page.records.map((r) => r.key));
          cursor = page.next ?? undefined;
        } while (cursor !== undefined);
        expect(paged).toEqual(['k-a', 'k-b', 'k-c']);
      });

      it('keeps what the views need: published message id, queue wait, documents, execution ids', async () => {
        const history = (await ledgerWithThree(ledger())).history;
        const [record] = (await history?.underwriting('uw_b', 10)) ?? [];
        expect(record).toMatchObject({
          key: 'k-b',
          overallStatus: 'partial_success',
          publishedMessageId: 'out-k-b',
          deliveries: 1,
          documents: ['doc_001'],
        });
        expect(record?.runs.find((r) => r.processorId === 'p2')).toMatchObject({
          status: 'failed',
          queueWait: 0.25,
          reused: false,
          errorMessage: 'down <img src=x onerror=alert(1)>',
          errorCode: 'PROCESSOR_FAILED',
          timeoutPhase: null,
        });
      });

      it('counts execution ids across deliveries, and marks a redelivery reusing a completed outcome', async () => {
        const l = ledger();
        const first = await l.begin({ key: 'k', underwritingId: 'uw', sourceMessageId: 'm' });
        if (first.state !== 'claimed') throw new Error('claim');
        const done = completed('p1');
        const broken = failed('p2');
        first.claim.record(done, { reused: false, queueWait: 0 });
        first.claim.record(broken, { reused: false, queueWait: 0 });
        await first.claim.release();
        const second = await l.begin({ key: 'k', underwritingId: 'uw', sourceMessageId: 'm' });
        if (second.state !== 'claimed') throw new Error('claim');
        const fixed = completed('p2');
        second.claim.record(done, { reused: true, queueWait: null });
        second.claim.record(fixed, { reused: false, queueWait: 1 });
        await second.claim.settle(resultOf('uw', [done, fixed]));
        const [record] = (await l.history?.underwriting('uw', 10)) ?? [];
        expect(record?.deliveries).toBe(2);
        expect(record?.runs).toMatchObject([
          { processorId: 'p1', reused: true, executionIds: [done.execution_id], queueWait: 0 },
          { processorId: 'p2', reused: false, executionIds: [broken.execution_id, fixed.execution_id] },
        ]);
      });

      it('reads one execution back with every outcome whole, and nothing for a key it never saw', async () => {
        const l = ledger();
        const claim = await claimOf(l, 'k-one', 'uw_one');
        const outcomes = [completed('p1', 1, { list: [[1, 2], [3]] }), failed('p2')];
        for (const o of outcomes) claim.record(o);
        await claim.settle(resultOf('uw_one', outcomes));
        const record = await l.history?.execution('k-one');
        expect(record).toMatchObject({
          key: 'k-one',
          underwritingId: 'uw_one',
          finishedAt: null,
          overallStatus: null,
        });
        expect(record?.runs.map((r) => r.outcome)).toEqual(outcomes);
        expect(await l.history?.execution('k-never')).toBeUndefined();
      });
    });
  });
}
