// `npm run bench -- capacity`: what an instance holds inside a 2 GiB memory limit (a cgroup, the
// size of a 2 GiB Cloud Run instance), on the specification's workload scaled from minutes to
// seconds (see workload.ts), against the reference a user of the anchors would write (the client
// library's streaming pull, or a plain HTTP push endpoint, feeding raw Piscina; reference.ts)
// measured in the same run, in the same cgroup, on the same emulator.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';

import { messageOf } from '../../src/errors.js';
import { createPubSub } from '../../src/transport/pubsub-client.js';
import { withEmulators } from '../emulators.js';
import { MEASURES } from '../measures.js';
import { interleavedRounds } from '../rounds.js';
import { int, mib, row, sec, type Row } from '../table.js';
import { cgroupUnavailable, createMemoryCgroup, type MemoryCgroup } from './cgroup.js';
import { firstEvents, startupTimes } from './cold.js';
import { PROJECT, type CapacityContext } from './context.js';
import type { Kind } from './contender.js';
import { drainBacklog, type DrainResult } from './drain.js';
import { pushBurst } from './push.js';
import {
  backlogRows,
  cpuAllowedRate,
  firstEventRows,
  largeRows,
  memoryLimitRow,
  pushRows,
  startupRows,
  steadyRows,
} from './rows.js';
import type { CapacitySettings } from './settings.js';
import { steadyArrivals } from './steady.js';
import { LARGE_DOCUMENTS, SMALL_DOCUMENTS, createWorkload, type Workload } from './workload.js';

export type { CapacitySettings } from './settings.js';

/** What a fresh node reads as its memory limit inside the cgroup. */
async function constrainedMemory(cgroup: MemoryCgroup): Promise<number> {
  const [file = '', ...args] = cgroup.launch([process.execPath, '-p', 'process.constrainedMemory()']);
  const { stdout } = await promisify(execFile)(file, args, { timeout: 30_000 });
  return Number(stdout.trim());
}

/**
 * Runs one case and returns its rows. A case that breaks (a contender killed from outside, the
 * emulator gone) costs its own rows only: an ERROR row says why, the other cases still run, and
 * the bench exits 1 once the table is printed.
 */
async function runCase(name: string, body: () => Promise<Row[]>): Promise<Row[]> {
  // BENCH_CAPACITY_CASES=backlog,pushes,... runs those cases only (the warm-up always runs).
  const only = process.env['BENCH_CAPACITY_CASES']?.split(',');
  if (only && name !== 'warm-up' && !only.includes(name)) return [];
  try {
    return await body();
  } catch (err) {
    console.error(`bench: capacity: ${name} broke:`, err);
    process.exitCode = 1;
    return [row(MEASURES.caseBroke, { detail: name, ours: messageOf(err), broke: true })];
  }
}

/** The reference first, then serve: one round of the harness the other sections alternate. */
async function againstReference<R>(
  run: (kind: Kind) => Promise<R>,
  progress?: { say: (m: string) => void; label: string; show: (run: R) => string },
): Promise<Record<Kind, R>> {
  const { runs } = await interleavedRounds({
    sides: ['reference', 'serve'] as const,
    rounds: 1,
    run,
    ...(progress && { progress: { ...progress, show: (kind: Kind, r: R) => `${kind} ${progress.show(r)}` } }),
  });
  return { reference: runs.reference[0] as R, serve: runs.serve[0] as R };
}

async function measure(context: CapacityContext, settings: CapacitySettings): Promise<Row[]> {
  const { progress, cgroup } = context;
  const drain = (kind: Kind, events: number, documents: readonly string[], timeBoxS: number) =>
    drainBacklog(context, kind, events, documents, timeBoxS * 1000);
  const { timeBoxS } = settings;
  const rows: Row[] = [memoryLimitRow(await constrainedMemory(cgroup), cgroup.limitBytes)];
  // The small backlog sets the large case's time budget and the steady case's rate.
  let small: DrainResult | undefined;
  const cases: Record<string, () => Promise<Row[]>> = {
    'warm-up': async () => {
      progress('capacity: warming the emulator up');
      await againstReference((kind) =>
        drain(kind, settings.warmupEvents[kind], SMALL_DOCUMENTS, timeBoxS.backlog),
      );
      return [];
    },

    backlog: async () => {
      const runs = await againstReference(
        (kind) => drain(kind, settings.backlogEvents, SMALL_DOCUMENTS, timeBoxS.backlog),
        {
          say: progress,
          label: `capacity: backlog of ${settings.backlogEvents}`,
          show: (r) => `${sec(r.wallMs)} (${r.replied} replied)`,
        },
      );
      small = runs.serve;
      return backlogRows(settings, runs.serve, runs.reference);
    },
    pushes: async () => {
      const runs = await againstReference(
        (kind) => pushBurst(context, kind, settings.pushEvents, timeBoxS.push * 1000),
        {
          say: progress,
          label: `capacity: ${settings.pushEvents} pushes`,
          show: (r) => `${sec(r.wallMs)}, ${r.refusals} refusals`,
        },
      );
      return pushRows(settings, runs.serve, runs.reference);
    },
    'large documents': async () => {
      const large = await drain('serve', settings.largeEvents, LARGE_DOCUMENTS, timeBoxS.large);
      progress(
        `capacity: ${settings.largeEvents} large events, serve ${sec(large.wallMs)}, peak ${mib(large.memory.peakBytes)}`,
      );
      return largeRows(settings, large, small, cgroup.limitBytes);
    },
    'steady arrivals': async () => {
      const allowed = small && cpuAllowedRate(small);
      if (allowed === undefined)
        return [row(MEASURES.steadyNotRun, { detail: 'no CPU time per event of serve', ours: '-' })];
      const { seconds, utilisation, drainS } = settings.steady;
      const rate = utilisation * allowed.rate;
      progress(`capacity: steady arrivals at ${rate.toFixed(1)} events/s for ${seconds} s (${allowed.text})`);
      const steady = await steadyArrivals(context, rate, seconds, drainS * 1000);
      progress(
        `capacity: steady arrivals p99 ${sec(steady.p99Ms)} (${steady.replied}/${steady.published} answered)`,
      );
      return steadyRows(settings, allowed, rate, steady);
    },
    'first event': async () =>
      firstEventRows(settings, await firstEvents(context, settings.cold, settings.targets)),
    'start-up': async () => {
      const push = await startupTimes(context, false, settings.startups);
      const pull = await startupTimes(context, true, settings.startups);
      return startupRows(settings, push, pull);
    },
  };
  for (const [name, body] of Object.entries(cases)) rows.push(...(await runCase(name, body)));
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
    return await withEmulators(['pubsub'], async ({ pubsub: emulator }) => {
      const { host } = emulator;
      const pubsub = createPubSub({ projectId: PROJECT, emulatorHost: host });
      try {
        console.log(
          `capacity: ${mib(settings.limitBytes)} memory cgroup ${cgroup.path} | ${availableParallelism()} cores | ` +
            `calibrated loop ${int(Number(created.env['BENCH_CAPACITY_ITERATIONS_PER_MS']))} iterations/ms | emulator ${host}`,
        );
        return await measure(
          { host, pubsub, cgroup, workload: created, emulatorPid: emulator.pid, progress },
          settings,
        );
      } finally {
        await pubsub.close();
      }
    });
  } finally {
    for (const close of closing.reverse()) await close();
  }
}
