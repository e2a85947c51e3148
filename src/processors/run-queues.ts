import { UNKNOWN_RUN_MS } from './learning.js';
import type { ProcessorRecords } from './processor-records.js';
import type { Attempt } from './thread-table.js';

/** An attempt the scheduler could not start at once. */
export type Waiting = {
  attempt: Attempt;
  admit: () => void;
  /** What it adds to the slot queue's expected time: one reading of its processor, or ms. */
  counted?: 'probe' | number;
};

/** A first-in, first-out queue whose `shift` does not move what is left. */
export class Queue<T> {
  #items: T[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  shift(): T | undefined {
    const item = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  /** The first `n` items. */
  head(n: number): T[] {
    return this.#items.slice(this.#head, this.#head + n);
  }
  /** Takes out every item `test` accepts, in order. */
  extract(test: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const taken: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      (test(item) ? taken : kept).push(item);
    }
    this.#items = kept;
    this.#head = 0;
    return taken;
  }
  values(): T[] {
    return this.#items.slice(this.#head);
  }
}

/**
 * The attempts waiting: for a CPU slot (probes, runs alone, short runs: `slot`) or for a thread
 * (runs that wait: `share`). The slot queue keeps what it is expected to hold its slots for as
 * attempts come and go, for admission (`cpuQueue` in the scheduler).
 */
export function createRunQueues(records: ProcessorRecords) {
  const slot = new Queue<Waiting>();
  const share = new Queue<Waiting>();
  const queued = { slotMs: 0, probes: new Map<string, number>() };

  /**
   * Adds or removes an attempt of the slot queue in its expected slot time. Runs of a processor
   * not known yet wait for one reading, not one each: once read, the others are placed by it.
   */
  function queuedSlot({ attempt, counted }: Waiting, sign: 1 | -1): void {
    if (counted === undefined) return;
    if (counted !== 'probe') {
      queued.slotMs += sign * counted;
      return;
    }
    const after = (queued.probes.get(attempt.processorId) ?? 0) + sign;
    if (after === 0) queued.probes.delete(attempt.processorId);
    else queued.probes.set(attempt.processorId, after);
  }

  /** Queues an attempt by what it needs. */
  function enqueue(entry: Waiting): void {
    if (entry.attempt.mode === 'share') return share.push(entry);
    slot.push(entry);
    entry.counted =
      entry.attempt.mode === 'probe' ? 'probe' : records.expectedSlotMs([entry.attempt.processorId]);
    queuedSlot(entry, 1);
  }

  return {
    slot,
    share,
    enqueue,

    /** Takes the head of the slot queue out of it. */
    shiftSlot(): Waiting {
      const entry = slot.shift() as Waiting;
      queuedSlot(entry, -1);
      return entry;
    },

    /** Takes the head of the share queue out of it. */
    shiftShare(): Waiting {
      return share.shift() as Waiting;
    },

    /** Once a processor is learnt to wait, its attempts in the slot queue move to the share queue. */
    learnt(processorId: string): void {
      for (const entry of slot.extract(({ attempt }) => attempt.processorId === processorId)) {
        queuedSlot(entry, -1);
        entry.counted = undefined;
        entry.attempt.mode = records.modeOf(entry.attempt);
        enqueue(entry);
      }
    },

    /** The run time the slot queue is expected to hold slots for, in ms (an unknown processor: one reading). */
    slotMs(): number {
      return queued.slotMs + queued.probes.size * UNKNOWN_RUN_MS;
    },
  };
}

export type RunQueues = ReturnType<typeof createRunQueues>;
