import { readdirSync, readFileSync } from 'node:fs';

/** Linux counts a process's CPU time in /proc in hundredths of a second (USER_HZ). */
const TICK_MS = 10;

/**
 * CPU time (user + system) a process has used so far, every thread of it included (ended ones
 * too), in ms; `undefined` where there is no /proc, and the bench then prints no CPU figure.
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const fields = statFields(pid);
  return fields === undefined ? undefined : cpuMsOf(fields);
}

/**
 * CPU time of every process of process group `pgid` (a launcher script and the JVM it started,
 * say), in ms, the same way; `undefined` where there is no /proc.
 */
export function processGroupCpuMs(pgid: number): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let total = 0;
  for (const pid of pids) {
    const fields = statFields(Number(pid));
    if (fields !== undefined && Number(fields[2]) === pgid) total += cpuMsOf(fields);
  }
  return total;
}

/** The fields of /proc/PID/stat after the command name (which may itself hold spaces): state is 0. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

// utime and stime are the stat file's fields 14 and 15; pgrp is 5.
const cpuMsOf = (fields: string[]): number => (Number(fields[11]) + Number(fields[12])) * TICK_MS;
