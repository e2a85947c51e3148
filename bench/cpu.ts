import { readFileSync } from 'node:fs';

/** Linux counts a process's CPU time in /proc in hundredths of a second (USER_HZ). */
const TICK_MS = 10;

/**
 * CPU time (user + system) a process has used so far, every thread of it included (ended ones
 * too), in ms; `undefined` where there is no /proc, and the bench then prints no CPU figure.
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The fields after the command name, which may itself hold spaces: utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}
