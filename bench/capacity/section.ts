// `npm run bench -- capacity`: what an instance holds inside a 2 GiB memory limit (a cgroup, the
// size of a 2 GiB Cloud Run instance), on the specification's workload scaled from minutes to
// seconds (see workload.ts), against the reference a user of the anchors would write (the client
// library's streaming pull, or a plain HTTP push endpoint, feeding raw Piscina; reference.ts)
// measured in the same run, in the same cgroup, on the same emulator.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';

import { messageOf } from '../../src/errors.js';
import { startEmulator } from '../../src/pubsub/emulator.js';
import { createPubSub } from '../../src/transport/pubsub.js';
import { median } from '../stats.js';
import { int, verdict, type Row } from '../table.js';
import { cgroupUnavailable, createMemoryCgroup, type MemoryCgroup } from './cgroup.js';
import { coldRun, coldServe, startupTimes } from './cold.js';
import { PROJECT, type CapacityContext } from './context.js';
import { drainBacklog, type DrainResult } from './drain.js';
import { PUSH_BACKOFF, pushBurst, type PushResult } from './push.js';
import { steadyArrivals, type SteadyResult } from './steady.js';
import {
  COLD_COMPUTE_MS,
  LARGE_DOCUMENTS,
  SMALL_DOCUMENTS,
  createWorkload,
  type Workload,
} from './workload.js';

export interface CapacitySettings {
  limitBytes: number;
  /** Events through the reference and through serve before anything is measured (the emulator's JIT). */
  warmupEvents: { reference: number; serve: number };
  backlogEvents: number;
  pushEvents: number;
  largeEvents: number;
  steady: {
    seconds: number;
    /** The share of the rate the CPU allows that arrives. */
    utilisation: number;
    /** How long the bench waits for the last replies once publishing ends, in s. */
    drainS: number;
  };
  cold: { runs: number; small: number; large: number; mixedWaiting: number; mixedComputing: number };
  startups: number;
  /** The longest a case may take before it is reported unfinished, in s. */
  timeBoxS: { backlog: number; push: number; large: number };
  targets: {
    backlogRatio: number;
    pushRatio: number;
    largePeakShare: number;
    largeTimeRatio: number;
    /** The slowest processor (s) and the p99 allowed, as a multiple of it. */
    slowestProcessorS: number;
    steadyP99Ratio: number;
    coldSmallS: number;
    coldLargeS: number;
    readyS: number;
  };
}

const sec = (ms: number | undefined) =>
  ms === undefined || Number.isNaN(ms) ? 'n/a' : `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number) => `${int(bytes / 2 ** 20)} MiB`;
const cpu = (ms: number | undefined) => (ms === undefined ? '-' : `${ms.toFixed(2)} ms`);
const info = (measure: string, ours: string, baseline = '-', ratio = '-', target = '-'): Row => ({
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

/** What a fresh node reads as its memory limit inside the cgroup. */
async function constrainedMemory(cgroup: MemoryCgroup): Promise<number> {
  const [file = '', ...args] = cgroup.launch([process.execPath, '-p', 'process.constrainedMemory()']);
  const { stdout } = await promisify(execFile)(file, args, { timeout: 30_000 });
  return Number(stdout.trim());
}

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

/** serve's time against the reference's: reference / serve, at least `target`. */
function againstReference(
  measure: string,
  oursMs: number | undefined,
  unfinished: string,
  referenceMs: number | undefined,
  target: number,
): Row {
  const ratio = oursMs === undefined || referenceMs === undefined ? 0 : referenceMs / oursMs;
  const ours = oursMs === undefined ? unfinished : sec(oursMs);
  return check(measure, ours, sec(referenceMs), ratio.toFixed(2), `>= ${target}`, ratio >= target);
}

function backlogRows(settings: CapacitySettings, ours: DrainResult, reference: DrainResult): Row[] {
  const label = `backlog of ${int(settings.backlogEvents)} events through pull`;
  return [
    againstReference(
      `${label}: spawn -> last processing.completed, serve vs reference`,
      ours.wallMs,
      `> ${settings.timeBoxS.backlog} s (${int(ours.replied)} done)`,
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

function pushRows(settings: CapacitySettings, ours: PushResult, reference: PushResult): Row[] {
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

function largeRows(
  settings: CapacitySettings,
  large: DrainResult,
  small: DrainResult,
  limitBytes: number,
): Row[] {
  const label = `${int(settings.largeEvents)} events x 512 KiB of documents through pull`;
  const { targets } = settings;
  const allowedMs = small.wallMs === undefined ? undefined : targets.largeTimeRatio * small.wallMs;
  const ratio =
    large.wallMs === undefined || small.wallMs === undefined ? undefined : large.wallMs / small.wallMs;
  const killed = large.diedOf !== undefined || large.memory.oomKills > 0;
  const share = large.memory.peakBytes / limitBytes;
  return [
    check(
      `${label}: spawn -> last processing.completed, vs the ${int(settings.backlogEvents)}-event backlog`,
      large.wallMs === undefined
        ? `> ${settings.timeBoxS.large} s (${int(large.replied)} done)`
        : sec(large.wallMs),
      sec(small.wallMs),
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
        ? `yes: ${large.memory.oomKills} OOM kills${large.diedOf ? `, ended by ${large.diedOf.signal ?? `code ${String(large.diedOf.code)}`}` : ''}`
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
function cpuAllowedRate(backlog: DrainResult): { rate: number; text: string } | undefined {
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

function steadyRows(
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

async function coldRows(context: CapacityContext, settings: CapacitySettings): Promise<Row[]> {
  const { cold, targets } = settings;
  const { workload, progress } = context;
  const rows: Row[] = [];
  for (const [count, target] of [
    [cold.small, targets.coldSmallS],
    [cold.large, targets.coldLargeS],
  ] as const) {
    const dir = workload.waitingDir(count);
    const runs: number[] = [];
    const serves: number[] = [];
    for (let i = 0; i < cold.runs; i++) {
      const output = await coldRun(context, dir);
      if (output.overall_status !== 'success')
        throw new Error(`bench: a cold run of ${count} processors: ${output.overall_status}`);
      runs.push(output.summary.total_execution_time * 1000);
      serves.push((await coldServe(context, dir)) * 1000);
    }
    progress(
      `capacity: first event, ${count} x 1 s: run ${runs.map(sec).join(', ')}; serve ${serves.map(sec).join(', ')}`,
    );
    for (const [where, times] of [
      ['fresh run', runs],
      ['fresh serve (pull)', serves],
    ] as const) {
      rows.push(
        check(
          `first event, ${where}, ${count} x await 1 s: total_execution_time, median of ${cold.runs} (${times.map(sec).join(', ')})`,
          sec(median(times)),
          '-',
          '-',
          `<= ${target} s`,
          median(times) <= target * 1000,
        ),
      );
    }
  }
  const mixed = await coldRun(context, workload.mixedDir(cold.mixedWaiting, cold.mixedComputing));
  const spans = mixed.completed_processors
    .filter((p) => p.processor_id.startsWith('cold_compute'))
    .map((p) => ({ from: Number(p.factors['started_at']), to: Number(p.factors['ended_at']) }));
  const atOnce = Math.max(
    0,
    ...spans.map((s) => spans.filter((o) => o.from <= s.from && s.from < o.to).length),
  );
  rows.push(
    info(
      `first event, fresh run, ${cold.mixedWaiting} x await 1 s + ${cold.mixedComputing} x compute ${COLD_COMPUTE_MS} ms: most computing at once (event ${sec(mixed.summary.total_execution_time * 1000)})`,
      `${atOnce}${spans.length < cold.mixedComputing ? ` (${spans.length} of ${cold.mixedComputing} completed)` : ''}`,
      '-',
      '-',
      `<= ${availableParallelism()} cores`,
    ),
  );
  return rows;
}

async function startupRows(context: CapacityContext, settings: CapacitySettings): Promise<Row[]> {
  const push = await startupTimes(context, false, settings.startups);
  const pull = await startupTimes(context, true, settings.startups);
  const target = settings.targets.readyS;
  return [
    check(
      `start-up, serve (push): spawn -> /readyz 200, median of ${settings.startups} (${push.map(sec).join(', ')})`,
      sec(median(push)),
      '-',
      '-',
      `<= ${target} s`,
      median(push) <= target * 1000,
    ),
    info(
      `start-up, serve (pull, subscription open): spawn -> /readyz 200, median of ${settings.startups} (${pull.map(sec).join(', ')})`,
      sec(median(pull)),
    ),
  ];
}

async function measure(context: CapacityContext, settings: CapacitySettings): Promise<Row[]> {
  const { progress, cgroup } = context;
  const timeBox = settings.timeBoxS;
  const limit = await constrainedMemory(cgroup);
  const rows: Row[] = [
    check(
      'process.constrainedMemory() of a node started inside the cgroup',
      mib(limit),
      '-',
      '-',
      `= ${mib(cgroup.limitBytes)}`,
      limit === cgroup.limitBytes,
    ),
  ];
  progress('capacity: warming the emulator up');
  await drainBacklog(
    context,
    'reference',
    settings.warmupEvents.reference,
    SMALL_DOCUMENTS,
    timeBox.backlog * 1000,
  );
  await drainBacklog(context, 'serve', settings.warmupEvents.serve, SMALL_DOCUMENTS, timeBox.backlog * 1000);

  const backlog = settings.backlogEvents;
  const refBacklog = await drainBacklog(
    context,
    'reference',
    backlog,
    SMALL_DOCUMENTS,
    timeBox.backlog * 1000,
  );
  progress(`capacity: backlog of ${backlog}, reference ${sec(refBacklog.wallMs)}`);
  const ourBacklog = await drainBacklog(context, 'serve', backlog, SMALL_DOCUMENTS, timeBox.backlog * 1000);
  progress(
    `capacity: backlog of ${backlog}, serve ${sec(ourBacklog.wallMs)} (${ourBacklog.replied} replied)`,
  );
  rows.push(...backlogRows(settings, ourBacklog, refBacklog));

  const refPush = await pushBurst(context, 'reference', settings.pushEvents, timeBox.push * 1000);
  progress(`capacity: ${settings.pushEvents} pushes, reference ${sec(refPush.wallMs)}`);
  const ourPush = await pushBurst(context, 'serve', settings.pushEvents, timeBox.push * 1000);
  progress(
    `capacity: ${settings.pushEvents} pushes, serve ${sec(ourPush.wallMs)}, ${ourPush.refusals} refusals`,
  );
  rows.push(...pushRows(settings, ourPush, refPush));

  const large = await drainBacklog(
    context,
    'serve',
    settings.largeEvents,
    LARGE_DOCUMENTS,
    timeBox.large * 1000,
  );
  progress(
    `capacity: ${settings.largeEvents} large events, serve ${sec(large.wallMs)}, peak ${mib(large.memory.peakBytes)}`,
  );
  rows.push(...largeRows(settings, large, ourBacklog, cgroup.limitBytes));

  const allowed = cpuAllowedRate(ourBacklog);
  if (allowed === undefined) {
    rows.push(info('steady arrivals: not run, serve CPU time per event could not be read', '-'));
  } else {
    const rate = settings.steady.utilisation * allowed.rate;
    progress(
      `capacity: steady arrivals at ${rate.toFixed(1)} events/s for ${settings.steady.seconds} s (${allowed.text})`,
    );
    const steady = await steadyArrivals(
      context,
      rate,
      settings.steady.seconds,
      settings.steady.drainS * 1000,
    );
    progress(
      `capacity: steady arrivals p99 ${sec(steady.p99Ms)} (${steady.replied}/${steady.published} answered)`,
    );
    rows.push(...steadyRows(settings, allowed, rate, steady));
  }

  rows.push(...(await coldRows(context, settings)));
  rows.push(...(await startupRows(context, settings)));
  return rows;
}

/** The capacity rows; none, after one line saying why, where no memory cgroup can be made. */
export async function capacityRows(
  settings: CapacitySettings,
  progress: (m: string) => void,
): Promise<Row[]> {
  let cgroup: MemoryCgroup;
  try {
    const unavailable = cgroupUnavailable();
    if (unavailable !== undefined) throw new Error(unavailable);
    cgroup = createMemoryCgroup(settings.limitBytes);
  } catch (err) {
    console.log(`capacity: skipped, no memory cgroup can be made here: ${messageOf(err)}`);
    return [];
  }
  // Closed in reverse, whatever happens.
  const closing: (() => unknown)[] = [() => cgroup.remove()];
  let workload: Workload | undefined;
  // Interrupted: the contenders go at once (the emulator has its own watchdog).
  const interrupted = (signal: NodeJS.Signals) => {
    const removed = cgroup.removeNow();
    workload?.close();
    console.error(
      `bench: ${signal}: the contenders were killed` +
        (removed ? '' : `; ${cgroup.path} is left for the next run to remove`),
    );
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  closing.push(() => process.off('SIGINT', interrupted).off('SIGTERM', interrupted));
  try {
    workload = createWorkload();
    const created = workload;
    closing.push(() => created.close());
    const emulator = process.env['PUBSUB_EMULATOR_HOST'] ? undefined : await startEmulator();
    if (emulator) closing.push(() => emulator.stop());
    const host = process.env['PUBSUB_EMULATOR_HOST'] ?? emulator?.host ?? '';
    const pubsub = createPubSub({ projectId: PROJECT, emulatorHost: host });
    closing.push(() => pubsub.close());
    console.log(
      `capacity: ${mib(settings.limitBytes)} memory cgroup ${cgroup.path} | ${availableParallelism()} cores | ` +
        `calibrated loop ${int(Number(workload.env['BENCH_CAPACITY_ITERATIONS_PER_MS']))} iterations/ms | emulator ${host}`,
    );
    return await measure({ host, pubsub, cgroup, workload, emulatorPid: emulator?.pid, progress }, settings);
  } finally {
    for (const close of closing.reverse()) await close();
  }
}
