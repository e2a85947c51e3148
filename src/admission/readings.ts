import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

import type { Readings } from './decide.js';

/** What the instance reads of itself; the pool gives the rest of `Readings`. */
export type OwnReadings = Omit<Readings, 'cpuWaitMs' | 'cpuSlots' | 'threadless' | 'limitWaiting'>;

/**
 * The event-loop delay is read over windows this many readings long (the last window's figure
 * is kept): its 90th percentile says whether the loop is late most of the time, which one long
 * synchronous step (a large document parsed) does not.
 */
const DELAY_WINDOW_TICKS = 10;

/** Memory, heap and event-loop delay: read once now, then at each `read` (admission's timer). */
export function createReadings(limitBytes: number) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let ticks = 0;
  let loopDelayMs = 0;

  function read(): OwnReadings {
    const heap = getHeapStatistics();
    if (++ticks % DELAY_WINDOW_TICKS === 0) {
      loopDelayMs = delay.count > 0 ? delay.percentile(90) / 1e6 : 0;
      delay.reset();
    }
    return {
      rssBytes: process.memoryUsage.rss(),
      limitBytes,
      heapUsedBytes: heap.used_heap_size,
      heapLimitBytes: heap.heap_size_limit,
      loopDelayMs,
    };
  }

  let last = read();
  return {
    /** The latest reading. */
    last: () => last,
    read(): OwnReadings {
      last = read();
      return last;
    },
    close(): void {
      delay.disable();
    },
  };
}
