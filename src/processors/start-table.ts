/**
 * Shared memory in which a worker thread stamps the moment a task really starts running, so a
 * processor's deadline counts its run time and not the time it waited in the pool's queue.
 * One slot per task in flight; a stamp is `process.hrtime.bigint()`, a monotonic clock shared by
 * every thread of the process; 0 means "not started yet". When the thread's own deadline timer
 * fires (its event loop is alive and `ctx.signal` has been aborted), it negates the stamp.
 */
export const SLOT_COUNT = 65_536;

export function createStartTable(slotCount = SLOT_COUNT) {
  const buffer = new SharedArrayBuffer(slotCount * BigInt64Array.BYTES_PER_ELEMENT);
  const stamps = new BigInt64Array(buffer);
  const free = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i);
  const waiting: ((slot: number) => void)[] = [];

  function claim(slot: number): number {
    Atomics.store(stamps, slot, 0n);
    return slot;
  }

  return {
    buffer,
    /** A free slot, cleared; waits (in order) only if every slot is in use. */
    acquire(): number | Promise<number> {
      const slot = free.pop();
      if (slot !== undefined) return claim(slot);
      return new Promise((resolve) => waiting.push((s) => resolve(claim(s))));
    },
    release(slot: number): void {
      const next = waiting.shift();
      if (next) next(slot);
      else free.push(slot);
    },
    /** When the task in `slot` started (hrtime ns), or 0n while it still waits in the queue. */
    startedAt(slot: number): bigint {
      const stamp = Atomics.load(stamps, slot);
      return stamp < 0n ? -stamp : stamp;
    },
    /** Whether the thread running the task in `slot` has seen its deadline and aborted its signal. */
    signalled(slot: number): boolean {
      return Atomics.load(stamps, slot) < 0n;
    },
  };
}

export type StartTable = ReturnType<typeof createStartTable>;

/** Thread side: stamp the start of the task in `slot`. */
export function stampStart(stamps: BigInt64Array, slot: number): void {
  Atomics.store(stamps, slot, process.hrtime.bigint());
}

/** Thread side: the task in `slot` has reached its deadline and its signal was aborted. */
export function stampSignalled(stamps: BigInt64Array, slot: number): void {
  const stamp = Atomics.load(stamps, slot);
  if (stamp > 0n) Atomics.store(stamps, slot, -stamp);
}
