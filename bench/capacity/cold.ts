// Fresh processes: the first event of a `run` and of a `serve` (pulling an event that waits for
// it), whose processors nothing has learnt yet; and how long `serve` takes to answer /readyz 200.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import { packageRoot } from '../../src/paths.js';
import { startContender } from './contender.js';
import { contenderEnv, type CapacityContext } from './context.js';
import { openLane } from './lane.js';
import type { CapacitySettings } from './settings.js';
import { SMALL_DOCUMENTS, underwritingCreated } from './workload.js';

const run = promisify(execFile);
const RUN_TIMEOUT_MS = 60_000;

/** `processor-orchestrator run EVENT.json` in a fresh process inside the cgroup; its output. */
export async function coldRun(context: CapacityContext, processorsDir: string): Promise<ProcessingCompleted> {
  const { cgroup, workload } = context;
  const [file = '', ...args] = cgroup.launch([
    process.execPath,
    join(packageRoot, 'dist', 'src', 'cli.js'),
    'run',
    workload.eventFile,
  ]);
  const env = contenderEnv(context, { completedTopic: 'unused', processorsDir });
  const { stdout } = await run(file, args, {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    timeout: RUN_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as ProcessingCompleted;
}

/** A fresh `serve` pulling one event that waits for it: the event's total_execution_time, in s. */
export async function coldServe(context: CapacityContext, processorsDir: string): Promise<number> {
  const lane = await openLane(context.pubsub, 'cold');
  try {
    await lane.publish([underwritingCreated('uw_cap_cold', SMALL_DOCUMENTS)]);
    const contender = await startContender(
      'serve',
      'serve (first event)',
      contenderEnv(context, {
        completedTopic: lane.outTopic,
        subscription: lane.inSubscription,
        processorsDir,
      }),
      context.cgroup,
    );
    try {
      if (!(await contender.unlessExited(lane.replies.until(1, RUN_TIMEOUT_MS))))
        throw new Error(
          `bench: a fresh serve did not answer its first event within ${RUN_TIMEOUT_MS / 1000} s`,
        );
      return [...lane.replies.byId.values()][0]?.executionS ?? Number.NaN;
    } finally {
      await contender.stop();
    }
  } finally {
    await lane.delete();
  }
}

/** Spawn to /readyz 200 of `count` fresh `serve` processes, one after the other, in ms. */
export async function startupTimes(
  context: CapacityContext,
  pull: boolean,
  count: number,
): Promise<number[]> {
  const lane = await openLane(context.pubsub, 'startup');
  try {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const contender = await startContender(
        'serve',
        `serve (start-up ${pull ? 'pull' : 'push'})`,
        contenderEnv(context, {
          completedTopic: lane.outTopic,
          ...(pull && { subscription: lane.inSubscription }),
        }),
        context.cgroup,
      );
      try {
        times.push((await contender.ready(30_000)) - contender.spawnedAt);
      } finally {
        await contender.stop();
      }
    }
    return times;
  } finally {
    await lane.delete();
  }
}

export interface FirstEvents {
  /** Per size: the first event's total_execution_time (ms) of each fresh run and fresh serve. */
  waiting: { count: number; targetS: number; runs: number[]; serves: number[] }[];
  /** The mixed event: the most computing runs that overlapped, how many completed, its total (ms). */
  mixed: { mostAtOnce: number; computed: number; eventMs: number };
}

/** The most of these spans that overlap at one time (the overlap peaks at some span's start). */
export function mostAtOnce(spans: readonly { from: number; to: number }[]): number {
  return Math.max(0, ...spans.map((s) => spans.filter((o) => o.from <= s.from && s.from < o.to).length));
}

/**
 * The first events, in fresh processes: for each size, `runs` fresh runs and fresh serves of an
 * event whose processors all await 1 s; then one fresh run of the mixed event, whose computing
 * processors say when they ran.
 */
export async function firstEvents(
  context: CapacityContext,
  cold: CapacitySettings['cold'],
  targets: CapacitySettings['targets'],
): Promise<FirstEvents> {
  const { workload, progress } = context;
  const waiting: FirstEvents['waiting'] = [];
  for (const [count, targetS] of [
    [cold.small, targets.coldSmallS],
    [cold.large, targets.coldLargeS],
  ] as const) {
    const dir = workload.waitingDir(count);
    const runs: number[] = [];
    const serves: number[] = [];
    for (let i = 0; i < cold.runs; i++) {
      const output = await coldRun(context, dir);
      if (output.overall_status !== 'success')
        throw new Error(`bench: a first event of ${count} waiting processors: ${output.overall_status}`);
      runs.push(output.summary.total_execution_time * 1000);
      serves.push((await coldServe(context, dir)) * 1000);
    }
    const ms = (times: number[]) => times.map((t) => t.toFixed(0)).join(', ');
    progress(`capacity: first event, ${count} x 1 s: run ${ms(runs)} ms; serve ${ms(serves)} ms`);
    waiting.push({ count, targetS, runs, serves });
  }
  const mixed = await coldRun(context, workload.mixedDir(cold.mixedWaiting, cold.mixedComputing));
  const spans = mixed.completed_processors
    .filter((p) => p.processor_id.startsWith('cold_compute'))
    .map((p) => ({ from: Number(p.factors['started_at']), to: Number(p.factors['ended_at']) }));
  return {
    waiting,
    mixed: {
      mostAtOnce: mostAtOnce(spans),
      computed: spans.length,
      eventMs: mixed.summary.total_execution_time * 1000,
    },
  };
}
