import { describe, expect, it } from 'vitest';

import { UNKNOWN_RUN_MS } from '../../src/processors/learning.js';
import type { Mode } from '../../src/processors/placement.js';
import { createProcessorRecords } from '../../src/processors/processor-records.js';
import { createRunQueues, Queue } from '../../src/processors/run-queues.js';
import type { Attempt } from '../../src/processors/thread-table.js';

const attempt = (processorId: string, mode: Mode): Attempt => ({
  slot: 0,
  processorId,
  mode,
  isolated: false,
  bytes: 1_000,
  input: { key: 'event', bytes: 3_000 },
  thread: undefined,
  startElu: undefined,
  innocent: false,
});

describe('the queues of attempts waiting', () => {
  it('counts one reading for every waiting probe of a processor, and a known run by its mean', () => {
    const records = createProcessorRecords();
    records.read('cpu', 'cpu');
    records.ran('cpu', { mode: 'alone', ranMs: 40 });
    const queues = createRunQueues(records);
    for (let i = 0; i < 3; i++) queues.enqueue({ attempt: attempt('new', 'probe'), admit: () => {} });
    queues.enqueue({ attempt: attempt('cpu', 'alone'), admit: () => {} });
    queues.enqueue({ attempt: attempt('io', 'share'), admit: () => {} });
    expect([queues.slot.length, queues.share.length]).toEqual([4, 1]);
    expect(queues.slotMs()).toBe(UNKNOWN_RUN_MS + 40);
    queues.shiftSlot();
    queues.shiftSlot();
    expect(queues.slotMs()).toBe(UNKNOWN_RUN_MS + 40);
    queues.shiftSlot();
    expect(queues.slotMs()).toBe(40);
    queues.shiftSlot();
    expect(queues.slotMs()).toBe(0);
  });

  it('moves the probes of a processor learnt to wait to the share queue, in order, and uncounts them', () => {
    const records = createProcessorRecords();
    const queues = createRunQueues(records);
    const first = attempt('io', 'probe');
    const second = attempt('io', 'probe');
    queues.enqueue({ attempt: first, admit: () => {} });
    queues.enqueue({ attempt: attempt('other', 'probe'), admit: () => {} });
    queues.enqueue({ attempt: second, admit: () => {} });
    records.read('io', 'io');
    queues.learnt('io');
    expect([queues.slot.length, queues.share.length]).toEqual([1, 2]);
    expect(queues.share.head(2).map((w) => w.attempt)).toEqual([first, second]);
    expect([first.mode, second.mode]).toEqual(['share', 'share']);
    expect(queues.slotMs()).toBe(UNKNOWN_RUN_MS);
  });
});

describe('a first-in, first-out queue', () => {
  it('keeps its order across many shifts and an extract', () => {
    const queue = new Queue<number>();
    for (let i = 0; i < 3_000; i++) queue.push(i);
    for (let i = 0; i < 2_000; i++) expect(queue.shift()).toBe(i);
    expect(queue.extract((n) => n % 2 === 0)).toHaveLength(500);
    expect(queue.head(3)).toEqual([2_001, 2_003, 2_005]);
    expect(queue.length).toBe(500);
  });
});
