// The capacity section's rows, from what its cases measured: named by what they measure, every
// figure printed (times, ratios, refusals, peaks, quantiles) so the benchmarks page can quote them.
import { availableParallelism } from 'node:os';

import { median } from '../stats.js';
import { int, verdict, type Row } from '../table.js';
import type { FirstEvents } from './cold.js';
import type { Exit } from './contender.js';
import type { DrainResult } from './drain.js';
import { PUSH_BACKOFF, type PushResult } from './push.js';
import type { CapacitySettings } from './settings.js';
import type { SteadyResult } from './steady.js';
import { COLD_COMPUTE_MS } from './workload.js';

export const sec = (ms: number | undefined) =>
  ms === undefined || Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`;
export const mib = (bytes: number) => `${int(bytes / 2 ** 20)} MiB`;
const cpu = (ms: number | undefined) => (ms === undefined ? '-' : `${ms.toFixed(2)} ms`);
export const info = (measure: string, ours: string, baseline = '-', ratio = '-', target = '-'): Row => ({
  measure,
  ours,
  baseline,
  ratio,
  target,
  verdict: 'info',
});
const check = (
  measure: string,
  ours: string,
  baseline: string,
  ratio: string,
  target: string,
  met: boolean,
): Row => ({
  measure,
  ours,
  baseline,
  ratio,
  target,
  verdict: verdict(met),
});

interface Completion {
  replied: number;
  allCompleted: number;
  duplicates: number;
}

/** Every event replied once, with every processor COMPLETED. */
function completionRow(measure: string, events: number, ours: Completion, reference?: Completion): Row {
  const text = (r: Completion) => `${int(r.allCompleted)}/${int(events)}, ${r.duplicates} twice`;
  const met = ours.replied === events && ours.allCompleted === events && ours.duplicates === 0;
  return check(measure, text(ours), reference ? text(reference) : '-', '-', 'all, 0 twice', met);
}

const ended = (exit: Exit) => exit.signal ?? `code ${String(exit.code)}`;

/** Why a backlog has no time: the contender ended on its own, or the time box ran out. */
function unfinished(result: DrainResult, timeBoxS: number): string {
  const done = `${int(result.replied)} done`;
  return result.diedOf ? `ended by ${ended(result.diedOf)} (${done})` : `> ${timeBoxS} s (${done})`;
}

/** serve's time against the reference's: reference / serve, at least `target`. */
function againstReference(
  measure: string,
  oursMs: number | undefined,
  whyNoTime: string,
  referenceMs: number | undefined,
  target: number,
): Row {
  const ratio = oursMs === undefined || referenceMs === undefined ? 0 : referenceMs / oursMs;
  const ours = oursMs === undefined ? whyNoTime : sec(oursMs);
  return check(measure, ours, sec(referenceMs), ratio.toFixed(2), `>= ${target}`, ratio >= target);
}

export function backlogRows(settings: CapacitySettings, ours: DrainResult, reference: DrainResult): Row[] {
  const label = `backlog of ${int(settings.backlogEvents)} events through pull`;
  return [
    againstReference(
      `${label}: spawn -> last processing.completed, serve vs reference`,
      ours.wallMs,
      unfinished(ours, settings.timeBoxS.backlog),
      reference.wallMs,
      settings.targets.backlogRatio,
    ),
    completionRow(
      `${label}: events with every processor COMPLETED, published twice`,
      ours.events,
      ours,
      reference,
    ),
    info(`${label}: spawn to /readyz 200`, sec(ours.readyMs), sec(reference.readyMs)),
    info(`${label}: peak memory (cgroup)`, mib(ours.memory.peakBytes), mib(reference.memory.peakBytes)),
    info(
      `${label}: CPU per event, all threads, after /readyz`,
      cpu(ours.cpuMsPerEvent.contender),
      cpu(reference.cpuMsPerEvent.contender),
      ours.cpuMsPerEvent.contender === undefined || reference.cpuMsPerEvent.contender === undefined
        ? '-'
        : `${(ours.cpuMsPerEvent.contender / reference.cpuMsPerEvent.contender).toFixed(1)}×`,
    ),
  ];
}

export function pushRows(settings: CapacitySettings, ours: PushResult, reference: PushResult): Row[] {
  const label = `${int(settings.pushEvents)} pushes at once`;
  const refused = (r: PushResult) =>
    `${int(r.refusedEvents)} events, ${int(r.refusals)} refusals` +
    (r.connectionErrors > 0 ? ` (${int(r.connectionErrors)} connection errors)` : '');
  return [
    againstReference(
      `${label}: first POST -> last 2xx, serve vs reference`,
      ours.wallMs,
      `> ${settings.timeBoxS.push} s (${int(ours.answered)} 2xx)`,
      reference.wallMs,
      settings.targets.pushRatio,
    ),
    info(
      `${label}: refused (429/503/no connection), resent after ${PUSH_BACKOFF.firstMs} ms doubling to ${PUSH_BACKOFF.maxMs / 1000} s`,
      refused(ours),
      refused(reference),
    ),
    completionRow(
      `${label}: events published with every processor COMPLETED, published twice`,
      ours.events,
      ours,
      reference,
    ),
    info(`${label}: peak memory (cgroup)`, mib(ours.memory.peakBytes), mib(reference.memory.peakBytes)),
    info(`${label}: CPU per event, all threads`, cpu(ours.cpuMsPerEvent), cpu(reference.cpuMsPerEvent)),
  ];
}

export function largeRows(
  settings: CapacitySettings,
  large: DrainResult,
  small: DrainResult | undefined,
  limitBytes: number,
): Row[] {
  const label = `${int(settings.largeEvents)} events x 512 KiB of documents through pull`;
  const { targets } = settings;
  const allowedMs = small?.wallMs === undefined ? undefined : targets.largeTimeRatio * small.wallMs;
  const ratio =
    large.wallMs === undefined || small?.wallMs === undefined ? undefined : large.wallMs / small.wallMs;
  const killed = large.diedOf !== undefined || large.memory.oomKills > 0;
  const share = large.memory.peakBytes / limitBytes;
  return [
    check(
      `${label}: spawn -> last processing.completed, vs the ${int(settings.backlogEvents)}-event backlog`,
      large.wallMs === undefined ? unfinished(large, settings.timeBoxS.large) : sec(large.wallMs),
      sec(small?.wallMs),
      ratio === undefined ? '-' : `${ratio.toFixed(2)}×`,
      `<= ${targets.largeTimeRatio}× (${sec(allowedMs)})`,
      ratio !== undefined && ratio <= targets.largeTimeRatio,
    ),
    completionRow(`${label}: events with every processor COMPLETED, published twice`, large.events, large),
    check(
      `${label}: peak memory (cgroup) of ${mib(limitBytes)}`,
      `${mib(large.memory.peakBytes)} (${(share * 100).toFixed(0)} %)`,
      '-',
      '-',
      `<= ${targets.largePeakShare * 100} % (${mib(targets.largePeakShare * limitBytes)})`,
      share <= targets.largePeakShare,
    ),
    check(
      `${label}: killed (cgroup OOM kills, or an exit of its own)`,
      killed
        ? `yes: ${large.memory.oomKills} OOM kills${large.diedOf ? `, ended by ${ended(large.diedOf)}` : ''}`
        : 'no',
      '-',
      '-',
      'never',
      !killed,
    ),
    info(`${label}: times usage hit the limit (memory.failcnt)`, int(large.memory.limitHits)),
  ];
}

/**
 * The rate the CPU allows: the cores over the CPU time one event costs everything that shares them
 * (serve's every thread, the emulator, the bench's publisher and subscriber), as measured during
 * serve's small backlog. Undefined when serve's share could not be read.
 */
export function cpuAllowedRate(backlog: DrainResult): { rate: number; text: string } | undefined {
  const { contender, emulator, bench } = backlog.cpuMsPerEvent;
  if (contender === undefined) return undefined;
  const perEvent = contender + (emulator ?? 0) + bench;
  const cores = availableParallelism();
  return {
    rate: (cores * 1000) / perEvent,
    text:
      `${cores} cores / (serve ${contender.toFixed(2)} + emulator ${emulator === undefined ? 'not counted (not started by the bench)' : emulator.toFixed(2)}` +
      ` + bench ${bench.toFixed(2)} ms of CPU per event)`,
  };
}

export function steadyRows(
  settings: CapacitySettings,
  allowed: { rate: number; text: string },
  rate: number,
  steady: SteadyResult,
): Row[] {
  const { seconds, utilisation } = settings.steady;
  const label = `steady ${rate.toFixed(1)} events/s for ${seconds} s (${utilisation * 100} % of ${allowed.rate.toFixed(1)})`;
  const bound = steady.lowerBounds ? '>= ' : '';
  const targetMs = settings.targets.steadyP99Ratio * settings.targets.slowestProcessorS * 1000;
  return [
    info(
      `the rate the CPU allows, events/s (the ${int(settings.backlogEvents)}-event backlog)`,
      allowed.rate.toFixed(1),
      allowed.text,
    ),
    check(
      `${label}: publish -> processing.completed p99`,
      `${bound}${sec(steady.p99Ms)}`,
      '-',
      '-',
      `<= ${settings.targets.steadyP99Ratio} × ${settings.targets.slowestProcessorS} s = ${sec(targetMs)}`,
      !steady.lowerBounds && steady.p99Ms <= targetMs,
    ),
    info(`${label}: p50 / max`, `${bound}${sec(steady.p50Ms)} / ${bound}${sec(steady.maxMs)}`),
    completionRow(
      `${label}: events with every processor COMPLETED, published twice`,
      steady.published,
      steady,
    ),
    info(`${label}: peak memory (cgroup)`, mib(steady.memory.peakBytes)),
  ];
}

export function memoryLimitRow(read: number, limitBytes: number): Row {
  return check(
    'process.constrainedMemory() of a node started inside the cgroup',
    mib(read),
    '-',
    '-',
    `= ${mib(limitBytes)}`,
    read === limitBytes,
  );
}

export function firstEventRows(settings: CapacitySettings, first: FirstEvents): Row[] {
  const { cold } = settings;
  const rows: Row[] = [];
  for (const { count, targetS, runs, serves } of first.waiting) {
    for (const [where, times] of [
      ['fresh run', runs],
      ['fresh serve (pull)', serves],
    ] as const) {
      rows.push(
        check(
          `first event, ${where}, ${count} x await 1 s: total_execution_time, median of ${times.length} (${times.map(sec).join(', ')})`,
          sec(median(times)),
          '-',
          '-',
          `<= ${targetS} s`,
          median(times) <= targetS * 1000,
        ),
      );
    }
  }
  const { mostAtOnce, computed, eventMs } = first.mixed;
  rows.push(
    info(
      `first event, fresh run, ${cold.mixedWaiting} x await 1 s + ${cold.mixedComputing} x compute ${COLD_COMPUTE_MS} ms: most computing at once (event ${sec(eventMs)})`,
      `${mostAtOnce}${computed < cold.mixedComputing ? ` (${computed} of ${cold.mixedComputing} completed)` : ''}`,
      '-',
      '-',
      `<= ${availableParallelism()} cores`,
    ),
  );
  return rows;
}

/** Both ways serve is deployed start against the same target: push only, and pulling too. */
export function startupRows(settings: CapacitySettings, push: number[], pull: number[]): Row[] {
  const target = settings.targets.readyS;
  const ways: [string, number[]][] = [
    ['push only', push],
    ['pulling, subscription open', pull],
  ];
  return ways.map(([how, times]) =>
    check(
      `start-up, serve (${how}): spawn -> /readyz 200, median of ${times.length} (${times.map(sec).join(', ')})`,
      sec(median(times)),
      '-',
      '-',
      `<= ${target} s`,
      median(times) <= target * 1000,
    ),
  );
}
