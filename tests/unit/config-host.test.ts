import type * as os from 'node:os';

import { afterEach, describe, expect, it, vi } from 'vitest';

// The machine, as the configuration reads it: set per test, after config.ts was imported.
const host = vi.hoisted(() => ({ cores: 3, memory: 2 * 2 ** 30 }));

vi.mock('node:os', async (importOriginal) => {
  const actual = await importOriginal<typeof os>();
  return { ...actual, availableParallelism: () => host.cores, totalmem: () => host.memory };
});

const { loadConfig } = await import('../../src/config.js');

describe('the defaults read from the machine', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('are read when the configuration is parsed, not when it is imported', () => {
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(0);
    host.cores = 6;
    host.memory = 4 * 2 ** 30;
    expect(loadConfig({})).toMatchObject({ processorThreads: 6, processorMaxThreads: 32 });
    host.cores = 1;
    host.memory = 2 * 2 ** 30;
    expect(loadConfig({})).toMatchObject({ processorThreads: 2, processorMaxThreads: 16 });
  });

  it("take the cgroup's memory limit where there is one", () => {
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(512 * 2 ** 20);
    host.memory = 64 * 2 ** 30;
    expect(loadConfig({}).processorMaxThreads).toBe(4);
  });

  it('never keep fewer threads at most than the threads asked for', () => {
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(256 * 2 ** 20);
    expect(loadConfig({ PROCESSOR_THREADS: '12' })).toMatchObject({
      processorThreads: 12,
      processorMaxThreads: 12,
    });
  });
});
