import { describe, expect, it } from 'vitest';

import { createLimits } from '../../src/processors/limits.js';

describe('concurrency limits', () => {
  it('lets `limit` runs hold a key, queues the rest in order, and counts what waits over every key', async () => {
    const limits = createLimits();
    const first = limits.acquire('api', 1);
    const other = limits.acquire('other', 1);
    expect(typeof first).toBe('function');
    expect(typeof other).toBe('function');
    const order: string[] = [];
    const second = Promise.resolve(limits.acquire('api', 1)).then((release) => {
      order.push('second');
      return release;
    });
    const third = Promise.resolve(limits.acquire('api', 1)).then((release) => {
      order.push('third');
      return release;
    });
    expect(limits.waiting()).toBe(2);

    (first as () => void)();
    const releaseSecond = await second;
    expect(order).toEqual(['second']);
    expect(limits.waiting()).toBe(1);

    releaseSecond();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    expect(limits.waiting()).toBe(0);
    // The key is free again: taken at once.
    expect(typeof limits.acquire('api', 1)).toBe('function');
  });
});
