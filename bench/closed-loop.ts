export interface ClosedLoopOptions {
  /** Events kept in flight: each lane starts its next event as soon as its last one is done. */
  concurrency: number;
  /** Completions before this are not counted (threads, JIT and caches warm up). */
  warmupMs: number;
  /** Length of the counted window, right after the warm-up. */
  measureMs: number;
  /** One event, start to finish. */
  once: () => Promise<void>;
}

/**
 * Events per second over the counted window of a closed loop. The loop runs without a break
 * from warm-up into the window, so the window starts with the pipeline already full.
 */
export async function closedLoop(options: ClosedLoopOptions): Promise<number> {
  const { concurrency, warmupMs, measureMs, once } = options;
  const windowStart = performance.now() + warmupMs;
  const windowEnd = windowStart + measureMs;
  let counted = 0;
  const lane = async (): Promise<void> => {
    while (performance.now() < windowEnd) {
      await once();
      const now = performance.now();
      if (now >= windowStart && now < windowEnd) counted++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return counted / (measureMs / 1000);
}
