import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where cgroup v1 keeps its memory controller (these machines; Cloud Run limits the same way). */
const MEMORY_ROOT = '/sys/fs/cgroup/memory';

/**
 * A memory cgroup (v1) with a limit, standing in for a Cloud Run instance's memory: processes
 * moved into it see the limit through `process.constrainedMemory()`, and are killed past it.
 * Making one needs root; without it the test fails saying so (it is never skipped).
 */
export interface MemoryCgroup {
  readonly path: string;
  /** Moves a process (and the threads it starts from now on) into the cgroup. */
  add(pid: number): Promise<void>;
  /** The most memory its processes used at once since it was made, in bytes. */
  peakBytes(): Promise<number>;
  /** How many times the kernel killed a process of it for memory. */
  oomKills(): Promise<number>;
  /** Removes it (its processes must have exited). */
  remove(): Promise<void>;
}

export async function createMemoryCgroup(name: string, limitBytes: number): Promise<MemoryCgroup> {
  if (!existsSync(join(MEMORY_ROOT, 'memory.limit_in_bytes'))) {
    throw new Error(
      `no cgroup v1 memory controller at ${MEMORY_ROOT}: this test needs one (Linux, cgroup v1)`,
    );
  }
  const path = join(MEMORY_ROOT, name);
  try {
    await mkdir(path);
    await writeFile(join(path, 'memory.limit_in_bytes'), String(limitBytes));
  } catch (err) {
    throw new Error(`could not make the memory cgroup ${path} (run the tests as root): ${String(err)}`);
  }
  // With swap accounting, the same limit on memory and swap, so the limit is the limit.
  const memsw = join(path, 'memory.memsw.limit_in_bytes');
  if (existsSync(memsw)) await writeFile(memsw, String(limitBytes));
  const number = async (file: string) => Number((await readFile(join(path, file), 'utf8')).trim());
  return {
    path,
    add: (pid) => writeFile(join(path, 'cgroup.procs'), String(pid)),
    peakBytes: () => number('memory.max_usage_in_bytes'),
    oomKills: async () => {
      const control = await readFile(join(path, 'memory.oom_control'), 'utf8');
      return Number(/oom_kill (\d+)/.exec(control)?.[1] ?? 0);
    },
    remove: () => rmdir(path),
  };
}
