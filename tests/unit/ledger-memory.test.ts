import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import type { Claim, Ledger } from '../../src/ledger/ledger.js';
import { executionKey } from '../../src/ledger/ledger.js';
import { createMemoryLedger } from '../../src/ledger/memory.js';
import type { RunOutcome } from '../../src/processors/run.js';
import { newExecutionId } from '../../src/processors/execution-id.js';
import { ledgerContract } from '../helpers/ledger-contract.js';

// A real collection before each heap measurement, so that garbage is not counted as kept.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const execution = (key: string) => ({ key, underwritingId: 'uw_1', sourceMessageId: key });
const RESULT = { completed_at: '2024-01-15T10:35:00.000Z' } as ProcessingCompleted;
const entry = (
  id: string,
  status: 'completed' | 'failed' = 'completed',
  size = 8,
  attempts = 1,
): RunOutcome => {
  const base = { processor_id: id, execution_id: newExecutionId(), execution_time: 1, attempts };
  return status === 'completed'
    ? { status, ...base, factors: { s: 'x'.repeat(size) } }
    : { status, ...base, error_message: 'no' };
};

async function claimOf(ledger: Ledger, key: string): Promise<Claim> {
  const begun = await ledger.begin(execution(key));
  if (begun.state !== 'claimed') throw new Error(`expected a claim, got ${begun.state}`);
  return begun.claim;
}

ledgerContract('memory', () => createMemoryLedger());

describe('memory ledger', () => {
  it('keys an execution by data.event_id when the event has one, else by the message id', () => {
    const event = { event: 'underwriting.created' as const, data: { underwriting_id: 'u', documents: [] } };
    expect(executionKey(event, 'm1')).toBe('m1');
    expect(executionKey({ ...event, data: { ...event.data, event_id: 'e1' } }, 'm1')).toBe('e1');
  });

  it('says an execution was published when its event completed', async () => {
    const ledger = createMemoryLedger();
    const claim = await claimOf(ledger, 'k');
    claim.record(entry('done'));
    await claim.settle(RESULT);
    await claim.published(RESULT);
    expect(await ledger.begin(execution('k'))).toEqual({
      state: 'published',
      publishedAt: RESULT.completed_at,
    });
  });

  it('keeps memory bounded over 100k events: the most recent executions only', async () => {
    const ledger = createMemoryLedger({ executions: 1_000, bytes: 1024 * 1024 });
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++) {
      const claim = await claimOf(ledger, `k${i}`);
      claim.record(entry('p', 'completed', 200));
      if (i % 2 === 0) await claim.published(RESULT);
      else await claim.release();
      expect(ledger.size().executions).toBeLessThanOrEqual(1_000);
      expect(ledger.size().bytes).toBeLessThanOrEqual(1024 * 1024);
    }
    // The newest are remembered, the oldest forgotten.
    expect((await ledger.begin(execution('k99998'))).state).toBe('published');
    expect((await ledger.begin(execution('k0'))).state).toBe('claimed');
    gc();
    // 100k executions kept would take tens of MB; 1,000 take about one.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(8 * 1024 * 1024);
  });

  it('forgets the oldest executions once their entries pass the byte bound', async () => {
    const ledger = createMemoryLedger({ executions: 1_000, bytes: 10_000 });
    for (let i = 0; i < 20; i++) {
      const claim = await claimOf(ledger, `k${i}`);
      claim.record(entry('p', 'completed', 2_000));
      await claim.release();
    }
    expect(ledger.size().bytes).toBeLessThanOrEqual(10_000);
    expect(ledger.size().executions).toBeLessThan(20);
    expect((await claimOf(ledger, 'k19')).prior.get('p')?.status).toBe('completed');
  });
});
