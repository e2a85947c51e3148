// A memory limit for the bench's contenders, the size of a Cloud Run instance: a cgroup v1 memory
// controller group, made beneath the one this process runs in (so whatever encloses the bench
// still encloses them), which each contender enters before it execs node. Its peak usage and its
// OOM kills are read from the controller's own files.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = '/sys/fs/cgroup/memory';
const PREFIX = 'po-bench-capacity-';

export interface MemoryCgroup {
  readonly path: string;
  readonly limitBytes: number;
  /** The command line that runs `argv` inside the group: it joins, then execs (same pid). */
  launch: (argv: readonly string[]) => string[];
  /** Starts the peak over from the current usage (memory.max_usage_in_bytes). */
  resetPeak(): void;
  peakBytes(): number;
  /** Processes the kernel's OOM killer has killed in the group so far (memory.oom_control). */
  oomKills(): number;
  /** Times usage hit the limit so far (memory.failcnt). */
  limitHits(): number;
  /**
   * At once, for a bench interrupted: SIGKILLs whatever is inside (processes the bench started),
   * waits up to a second for it to leave, and removes the group; false if it could not.
   */
  removeNow: () => boolean;
  /** Kills whatever is still inside, waits for it to leave, then removes the group. */
  remove(): Promise<void>;
}

/** Where this process's memory cgroup is, from /proc/self/cgroup ('/' when it is the root). */
function ownMemoryCgroup(): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes('memory'));
  return line?.split(':')[2] ?? '/';
}

/** Why no memory cgroup can be made here, or undefined when one can. */
export function cgroupUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync(join(ROOT, 'memory.limit_in_bytes'))) return `no cgroup v1 memory controller at ${ROOT}`;
  return undefined;
}

const readNumber = (file: string): number => Number(readFileSync(file, 'utf8').trim());

/** The pids inside a group. */
function members(path: string): number[] {
  return readFileSync(join(path, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

function killAll(path: string): void {
  for (const pid of members(path)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Empty groups a bench that died left behind (their pid is in their name). */
function removeStale(parent: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(PREFIX)) continue;
    const path = join(parent, name);
    if (pidAlive(Number(name.slice(PREFIX.length))) || members(path).length > 0) continue;
    rmdirSync(path);
  }
}

/**
 * Makes the group and sets its limit (memory and memory+swap alike, so swap cannot stretch it).
 * Throws with the reason when the kernel refuses; see `cgroupUnavailable` for the usual ones.
 */
export function createMemoryCgroup(limitBytes: number): MemoryCgroup {
  const parent = join(ROOT, ownMemoryCgroup());
  removeStale(parent);
  const path = join(parent, `${PREFIX}${process.pid}`);
  mkdirSync(path);
  const file = (name: string) => join(path, name);
  try {
    writeFileSync(file('memory.limit_in_bytes'), String(limitBytes));
    if (existsSync(file('memory.memsw.limit_in_bytes')))
      writeFileSync(file('memory.memsw.limit_in_bytes'), String(limitBytes));
  } catch (err) {
    rmdirSync(path);
    throw err;
  }
  return {
    path,
    limitBytes,
    // "$@" passes the argv on untouched: no quoting of paths.
    launch: (argv) => ['/bin/sh', '-c', `echo $$ > '${file('cgroup.procs')}' && exec "$@"`, 'sh', ...argv],
    resetPeak: () => writeFileSync(file('memory.max_usage_in_bytes'), '0'),
    peakBytes: () => readNumber(file('memory.max_usage_in_bytes')),
    oomKills: () => {
      const line = readFileSync(file('memory.oom_control'), 'utf8')
        .split('\n')
        .find((l) => l.startsWith('oom_kill '));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    },
    limitHits: () => readNumber(file('memory.failcnt')),
    removeNow: () => {
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let attempt = 0; attempt < 20 && members(path).length > 0; attempt++) {
        killAll(path);
        Atomics.wait(pause, 0, 0, 50);
      }
      try {
        rmdirSync(path);
        return true;
      } catch {
        return false;
      }
    },
    async remove() {
      for (let attempt = 0; attempt < 50 && members(path).length > 0; attempt++) {
        killAll(path);
        await sleep(100);
      }
      rmdirSync(path);
    },
  };
}
