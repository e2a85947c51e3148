import { openSync, readFileSync, readlinkSync, readSync } from 'node:fs';

/**
 * Shared memory between the pool and its threads, one slot per attempt in flight. The thread
 * writes, the pool reads:
 * - `started`: the moment the attempt really starts running in its thread (`process.hrtime`, a
 *   monotonic clock every thread of the process shares); 0 while it still waits. A deadline counts
 *   from it, so a wait in a queue is never run time.
 * - `tids`: the operating-system id of the thread running it (Linux), so the pool can read how much
 *   CPU time that thread consumes (`/proc/self/task/TID/schedstat`); 0 where there is none.
 * - `flags`: SIGNALLED when the thread's own deadline timer fired and aborted `ctx.signal` (its
 *   event loop is turning: it earns the grace); EXITED when the processor called `process.exit`
 *   (that attempt ended its thread; the other runs on it did not); EXECUTING once the plugin is
 *   loaded and its `execute` called (the scheduler reads what the run does from then on, not what
 *   loading the module did); SETTLED once the attempt's answer is made (it may not have reached
 *   the pool yet: a pool kept off the CPU reads it late, and must not judge the thread meanwhile);
 *   DECODING while the thread decodes the event's documents for the run (its work, not the
 *   processor's: the scheduler starts reading the run again after it).
 */
export const SLOT_COUNT = 65_536;

export const SIGNALLED = 1;
export const EXITED = 2;
export const EXECUTING = 4;
export const SETTLED = 8;
export const DECODING = 16;

export interface RunTableViews {
  started: BigInt64Array;
  flags: Int32Array;
  tids: Int32Array;
}

/** The two views of a run table's buffer, for the pool and for each thread. */
export function runTableViews(buffer: SharedArrayBuffer, slotCount = SLOT_COUNT): RunTableViews {
  const ints = slotCount * BigInt64Array.BYTES_PER_ELEMENT;
  return {
    started: new BigInt64Array(buffer, 0, slotCount),
    flags: new Int32Array(buffer, ints, slotCount),
    tids: new Int32Array(buffer, ints + slotCount * Int32Array.BYTES_PER_ELEMENT, slotCount),
  };
}

export function createRunTable(slotCount = SLOT_COUNT) {
  const buffer = new SharedArrayBuffer(
    slotCount * (BigInt64Array.BYTES_PER_ELEMENT + 2 * Int32Array.BYTES_PER_ELEMENT),
  );
  const { started, flags, tids } = runTableViews(buffer, slotCount);
  const free = Array.from({ length: slotCount }, (_, i) => slotCount - 1 - i);
  const waiting: ((slot: number) => void)[] = [];

  function claim(slot: number): number {
    Atomics.store(started, slot, 0n);
    Atomics.store(flags, slot, 0);
    Atomics.store(tids, slot, 0);
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
    /** When the attempt in `slot` started (hrtime ns), or 0n while it still waits. */
    startedAt(slot: number): bigint {
      return Atomics.load(started, slot);
    },
    /** OS id of the thread running the attempt in `slot`, 0 if unknown. */
    tid(slot: number): number {
      return Atomics.load(tids, slot);
    },
    has(slot: number, flag: number): boolean {
      return (Atomics.load(flags, slot) & flag) !== 0;
    },
  };
}

export type RunTable = ReturnType<typeof createRunTable>;

/** Thread side: the attempt in `slot` starts now, on the thread `tid`. */
export function stampStart(views: RunTableViews, slot: number, tid: number): void {
  Atomics.store(views.tids, slot, tid);
  Atomics.store(views.started, slot, process.hrtime.bigint());
}

/** This thread's operating-system id (Linux), or 0. */
export function ownTid(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}

/** CPU time the thread `tid` of this process has run, in ms; undefined where it cannot be read. */
export function threadCpuMs(tid: number): number | undefined {
  if (tid === 0) return undefined;
  try {
    return schedstatMs(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * The calling thread's CPU clock: CPU time it has run, in ms (Linux; a few microseconds a reading,
 * from a file kept open), or a clock that reads undefined where there is none. The file is closed
 * with its thread: a worker closes the descriptors it opened when it exits or is terminated
 * (`trackUnmanagedFds`, on in Node and in Piscina by default).
 */
export function ownCpuClock(): () => number | undefined {
  let fd: number;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return () => undefined;
  }
  const buffer = Buffer.alloc(64);
  return () => {
    try {
      const read = readSync(fd, buffer, 0, buffer.length, 0);
      return schedstatMs(buffer.toString('latin1', 0, read));
    } catch {
      return undefined;
    }
  };
}

/** The CPU time a `schedstat` file's text says its thread ran (its first field, in ns), in ms. */
function schedstatMs(text: string): number {
  return Number(text.split(' ', 1)[0]) / 1e6;
}

/** Thread side: raise `flag` for the attempt in `slot`. */
export function stampFlag(views: RunTableViews, slot: number, flag: number): void {
  Atomics.or(views.flags, slot, flag);
}

/** Thread side: lower `flag` for the attempt in `slot`. */
export function clearFlag(views: RunTableViews, slot: number, flag: number): void {
  Atomics.and(views.flags, slot, ~flag);
}
