// The capacity section's rows, from what its cases measured: named by what they measure, every
// figure printed (times, ratios, refusals, peaks, quantiles) so the benchmarks page can quote them.
import { availableParallelism } from 'node:os';

import { MEASURES } from '../measures.js';
import { median } from '../stats.js';
import { int, mib, row, sec, type Measure, type Row } from '../table.js';
import type { FirstEvents } from './cold.js';
import type { Exit } from './contender.js';
import type { DrainResult } from './drain.js';
import { PUSH_BACKOFF, type PushResult } from './push.js';
import type { CapacitySettings } from './settings.js';
import type { SteadyResult } from './steady.js';
import { COLD_COMPUTE_MS } from './workload.js';

const cpu = (ms: number | undefined) => (ms === undefined ? '-' : `${ms.toFixed(2)} ms`);

interface Completion {
  replied: number;
  allCompleted: number;
  duplicates: number;
}

/** Every event replied once, with every processor COMPLETED. */
function completionRow(
  measure: Measure,
  detail: string,
  events: number,
  ours: Completion,
  reference?: Completion,
): Row {
  const text = (r: Completion) => `${int(r.allCompleted)}/${int(events)}, ${r.duplicates} twice`;
  const met = ours.replied === events && ours.allCompleted === events && ours.duplicates === 0;
  return row(measure, {
    detail: `${detail}: events with every processor COMPLETED, published twice`,
    ours: text(ours),
    ...(reference && { baseline: text(reference) }),
    target: { text: 'all, 0 twice', met },
  });
}

const ended = (exit: Exit) => exit.signal ?? `code ${String(exit.code)}`;

/** Why a backlog has no time: the contender ended on its own, or the time box ran out. */
function unfinished(result: DrainResult, timeBoxS: number): string {
  const done = `${int(result.replied)} done`;
  return result.diedOf ? `ended by ${ended(result.diedOf)} (${done})` : `> ${timeBoxS} s (${done})`;
}

/** serve's time against the reference's: reference / serve, at least `target`. */
function againstReference(
  measure: Measure,
  detail: string,
  times: { oursMs: number | undefined; whyNoTime: string; referenceMs: number | undefined },
  target: number,
): Row {
  const { oursMs, whyNoTime, referenceMs } = times;
  const ratio = oursMs === undefined || referenceMs === undefined ? 0 : referenceMs / oursMs;
  return row(measure, {
    detail,
    ours: oursMs === undefined ? whyNoTime : sec(oursMs),
    baseline: sec(referenceMs),
    ratio: ratio.toFixed(2),
    target: { text: `>= ${target}`, met: ratio >= target },
  });
}

export function backlogRows(settings: CapacitySettings, ours: DrainResult, reference: DrainResult): Row[] {
  const events = `${int(settings.backlogEvents)} events`;
  const contender = (r: DrainResult) => r.cpuMsPerEvent.contender;
  const [oursCpu, referenceCpu] = [contender(ours), contender(reference)];
  return [
    againstReference(
      MEASURES.backlogVsReference,
      `${events}, spawn -> last processing.completed, serve vs reference`,
      {
        oursMs: ours.wallMs,
        whyNoTime: unfinished(ours, settings.timeBoxS.backlog),
        referenceMs: reference.wallMs,
      },
      settings.targets.backlogRatio,
    ),
    completionRow(MEASURES.backlogCompletion, events, ours.events, ours, reference),
    row(MEASURES.backlogReady, {
      detail: `${events}, spawn to /readyz 200`,
      ours: sec(ours.readyMs),
      baseline: sec(reference.readyMs),
    }),
    row(MEASURES.backlogMemory, {
      detail: `${events} (cgroup)`,
      ours: mib(ours.memory.peakBytes),
      baseline: mib(reference.memory.peakBytes),
    }),
    row(MEASURES.backlogCpu, {
      detail: `${events}, all threads, after /readyz`,
      ours: cpu(oursCpu),
      baseline: cpu(referenceCpu),
      ratio:
        oursCpu === undefined || referenceCpu === undefined ? '-' : `${(oursCpu / referenceCpu).toFixed(1)}×`,
    }),
  ];
}

export function pushRows(settings: CapacitySettings, ours: PushResult, reference: PushResult): Row[] {
  const events = `${int(settings.pushEvents)} pushes`;
  const refused = (r: PushResult) =>
    `${int(r.refusedEvents)} events, ${int(r.refusals)} refusals` +
    (r.connectionErrors > 0 ? ` (${int(r.connectionErrors)} connection errors)` : '');
  return [
    againstReference(
      MEASURES.pushesVsReference,
      `${events}, first POST -> last 2xx, serve vs reference`,
      {
        oursMs: ours.wallMs,
        whyNoTime: `> ${settings.timeBoxS.push} s (${int(ours.answered)} 2xx)`,
        referenceMs: reference.wallMs,
      },
      settings.targets.pushRatio,
    ),
    row(MEASURES.pushesRefused, {
      detail: `${events}, 429/503/no connection, resent after ${PUSH_BACKOFF.firstMs} ms doubling to ${PUSH_BACKOFF.maxMs / 1000} s`,
      ours: refused(ours),
      baseline: refused(reference),
    }),
    completionRow(MEASURES.pushesCompletion, events, ours.events, ours, reference),
    row(MEASURES.pushesMemory, {
      detail: `${events} (cgroup)`,
      ours: mib(ours.memory.peakBytes),
      baseline: mib(reference.memory.peakBytes),
    }),
    row(MEASURES.pushesCpu, {
      detail: `${events}, all threads`,
      ours: cpu(ours.cpuMsPerEvent),
      baseline: cpu(reference.cpuMsPerEvent),
    }),
  ];
}

export function largeRows(
  settings: CapacitySettings,
  large: DrainResult,
  small: DrainResult | undefined,
  limitBytes: number,
): Row[] {
  const events = `${int(settings.largeEvents)} events x 512 KiB of documents`;
  const { targets } = settings;
  const allowedMs = small?.wallMs === undefined ? undefined : targets.largeTimeRatio * small.wallMs;
  const ratio =
    large.wallMs === undefined || small?.wallMs === undefined ? undefined : large.wallMs / small.wallMs;
  const killed = large.diedOf !== undefined || large.memory.oomKills > 0;
  const share = large.memory.peakBytes / limitBytes;
  const diedOf = large.diedOf ? `, ended by ${ended(large.diedOf)}` : '';
  return [
    row(MEASURES.largeVsBacklog, {
      detail: `${events}, spawn -> last processing.completed, vs the ${int(settings.backlogEvents)}-event backlog`,
      ours: large.wallMs === undefined ? unfinished(large, settings.timeBoxS.large) : sec(large.wallMs),
      baseline: sec(small?.wallMs),
      ratio: ratio === undefined ? '-' : `${ratio.toFixed(2)}×`,
      target: {
        text: `<= ${targets.largeTimeRatio}× (${sec(allowedMs)})`,
        met: ratio !== undefined && ratio <= targets.largeTimeRatio,
      },
    }),
    completionRow(MEASURES.largeCompletion, events, large.events, large),
    row(MEASURES.largeMemory, {
      detail: `${events} (cgroup) of ${mib(limitBytes)}`,
      ours: `${mib(large.memory.peakBytes)} (${(share * 100).toFixed(0)} %)`,
      target: {
        text: `<= ${targets.largePeakShare * 100} % (${mib(targets.largePeakShare * limitBytes)})`,
        met: share <= targets.largePeakShare,
      },
    }),
    row(MEASURES.largeKilled, {
      detail: `${events} (cgroup OOM kills, or an exit of its own)`,
      ours: killed ? `yes: ${large.memory.oomKills} OOM kills${diedOf}` : 'no',
      target: { text: 'never', met: !killed },
    }),
    row(MEASURES.largeLimitHits, {
      detail: `${events} (memory.failcnt)`,
      ours: int(large.memory.limitHits),
    }),
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
  const detail = `${rate.toFixed(1)} events/s for ${seconds} s (${utilisation * 100} % of ${allowed.rate.toFixed(1)})`;
  const bound = steady.lowerBounds ? '>= ' : '';
  const { steadyP99Ratio, slowestProcessorS } = settings.targets;
  const targetMs = steadyP99Ratio * slowestProcessorS * 1000;
  return [
    row(MEASURES.cpuAllowedRate, {
      detail: `events/s (the ${int(settings.backlogEvents)}-event backlog)`,
      ours: allowed.rate.toFixed(1),
      baseline: allowed.text,
    }),
    row(MEASURES.steadyP99, {
      detail: `${detail}, publish -> processing.completed`,
      ours: `${bound}${sec(steady.p99Ms)}`,
      target: {
        text: `<= ${steadyP99Ratio} × ${slowestProcessorS} s = ${sec(targetMs)}`,
        met: !steady.lowerBounds && steady.p99Ms <= targetMs,
      },
    }),
    row(MEASURES.steadyP50Max, {
      detail,
      ours: `${bound}${sec(steady.p50Ms)} / ${bound}${sec(steady.maxMs)}`,
    }),
    completionRow(MEASURES.steadyCompletion, detail, steady.published, steady),
    row(MEASURES.steadyMemory, { detail: `${detail} (cgroup)`, ours: mib(steady.memory.peakBytes) }),
  ];
}

export function memoryLimitRow(read: number, limitBytes: number): Row {
  return row(MEASURES.memoryLimitSeen, {
    detail: 'process.constrainedMemory() of a node started inside it',
    ours: mib(read),
    target: { text: `= ${mib(limitBytes)}`, met: read === limitBytes },
  });
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
        row(MEASURES.firstEventWaiting, {
          detail: `${where}, ${count} x await 1 s: total_execution_time, median of ${times.length} (${times.map(sec).join(', ')})`,
          ours: sec(median(times)),
          target: { text: `<= ${targetS} s`, met: median(times) <= targetS * 1000 },
        }),
      );
    }
  }
  const { mostAtOnce, computed, eventMs } = first.mixed;
  const missing = computed < cold.mixedComputing ? ` (${computed} of ${cold.mixedComputing} completed)` : '';
  rows.push(
    row(MEASURES.firstEventMixed, {
      detail: `${cold.mixedWaiting} x await 1 s + ${cold.mixedComputing} x compute ${COLD_COMPUTE_MS} ms (event ${sec(eventMs)})`,
      ours: `${mostAtOnce}${missing}`,
      // Read against the cores, not checked.
      target: { text: `<= ${availableParallelism()} cores` },
    }),
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
    row(MEASURES.startup, {
      detail: `${how}, spawn -> /readyz 200, median of ${times.length} (${times.map(sec).join(', ')})`,
      ours: sec(median(times)),
      target: { text: `<= ${target} s`, met: median(times) <= target * 1000 },
    }),
  );
}
