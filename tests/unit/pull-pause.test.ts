import { getEventListeners } from 'node:events';

import { describe, expect, it } from 'vitest';

import { pause } from '../../src/transport/pull.js';

describe("the pull loop's pause", () => {
  it('woken early, it stops listening to the stop signal: a thousand early wakes leave no listener', async () => {
    const stop = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 1000; i++) await pause(60_000, stop.signal, Promise.resolve());
      // A warning is emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('a wake that rejects ends the pause too', async () => {
    const stop = new AbortController();
    await pause(60_000, stop.signal, Promise.reject(new Error('no matter')));
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });

  it('ends at once when stopped, however long it was to last, and when already stopped', async () => {
    const stop = new AbortController();
    const paused = pause(60_000, stop.signal, new Promise(() => {}));
    stop.abort();
    await paused;
    await pause(60_000, stop.signal);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });

  it('ends when its time is up, and lets go of the signal then', async () => {
    const stop = new AbortController();
    await pause(1, stop.signal, new Promise(() => {}));
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });
});
