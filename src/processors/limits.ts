/**
 * Per-key concurrency limits (a processor's `concurrency: { limit, key? }`): at most `limit` runs
 * hold a key at once on this instance; the others wait in arrival order. The key is the
 * processor's `key`, else its id. A wait here is queue time: a run's deadline starts later.
 */
export function createLimits() {
  const keys = new Map<string, { held: number; waiting: (() => void)[] }>();
  let waiting = 0;

  function release(key: string): void {
    const state = keys.get(key);
    if (!state) return;
    const next = state.waiting.shift();
    if (next) {
      waiting--;
      return next();
    }
    state.held--;
    if (state.held === 0) keys.delete(key);
  }

  return {
    /** Resolves (or returns at once) with the function that gives the key back. */
    acquire(key: string, limit: number): (() => void) | Promise<() => void> {
      const done = () => release(key);
      const state = keys.get(key) ?? { held: 0, waiting: [] };
      keys.set(key, state);
      if (state.held < limit) {
        state.held++;
        return done;
      }
      waiting++;
      return new Promise((resolve) => state.waiting.push(() => resolve(done)));
    },

    /** Runs waiting for a key, over every key. */
    waiting: () => waiting,
  };
}

export type Limits = ReturnType<typeof createLimits>;
