// The pool section: the orchestrator over a real pool against raw Piscina doing the same tasks
// (alternating rounds) and against a new Worker per run, and how late a TIMEOUT settles after its
// deadline, for a processor that busy-loops and one that honours ctx.signal.
import { availableParallelism, cpus } from 'node:os';

import { discoverProcessors, type InstalledProcessor } from '../src/processors/discovery.js';
import { timeoutLateness, type Lateness } from './lateness.js';
import { MEASURES } from './measures.js';
import { fixturePaths } from './paths.js';
import { interleavedRounds } from './rounds.js';
import { workerPerRunThroughput } from './spawn.js';
import { quantile } from './stats.js';
import { int, quotientRow, row, type Measure, type Row } from './table.js';
import { orchestratorThroughput, rawPiscinaThroughput, type LoopShape } from './throughput.js';

export interface PoolSettings {
  threads: number;
  maxHeapMb: number;
  rounds: number;
  loop: LoopShape;
  spawnEvents: number;
  spawnWarmupEvents: number;
  latenessRuns: number;
  latenessWarmupRuns: number;
  targets: { throughputRatio: number; workerPerRunRatio: number; latenessP99Ms: number };
}

const ms = (n: number) => (Number.isNaN(n) ? 'n/a' : `${n} ms`);

function only(processors: ReadonlyMap<string, InstalledProcessor>, dir: string): InstalledProcessor {
  const [processor, ...rest] = processors.values();
  if (!processor || rest.length > 0) throw new Error(`${dir}: expected exactly one processor`);
  return processor;
}

/** p50, p99 (with a target when `p99TargetMs` is given), max, and the threads replaced. */
export function latenessRows(
  measures: { lateness: Measure; replaced: Measure },
  detail: string,
  lateness: Lateness,
  p99TargetMs?: number,
): Row[] {
  const { lateMs, notTimeout } = lateness;
  const note = notTimeout > 0 ? ` (${notTimeout} runs not TIMEOUT)` : '';
  const p99 = quantile(lateMs, 0.99);
  const stat = (name: string, value: number, target?: { text: string; met: boolean }) =>
    row(measures.lateness, {
      detail: `${name}, ${detail}${note}`,
      ours: ms(value),
      ...(target && { target }),
    });
  return [
    stat('p50', quantile(lateMs, 0.5)),
    stat(
      'p99',
      p99,
      p99TargetMs === undefined
        ? undefined
        : { text: `<= ${p99TargetMs} ms`, met: notTimeout === 0 && p99 <= p99TargetMs },
    ),
    stat('max', quantile(lateMs, 1)),
    row(measures.replaced, { detail, ours: String(lateness.threadsReplaced) }),
  ];
}

export async function poolRows(settings: PoolSettings, progress: (m: string) => void): Promise<Row[]> {
  const { threads, maxHeapMb, rounds, loop, targets } = settings;
  const paths = fixturePaths();
  const trivial = await discoverProcessors(paths.trivialDir);
  const spin = only(await discoverProcessors(paths.spinDir), paths.spinDir);
  const signal = only(await discoverProcessors(paths.signalDir), paths.signalDir);
  const files = [...trivial.values()].map((p) => p.file);

  console.log(
    `node ${process.version} | ${cpus().length} CPUs (availableParallelism ${availableParallelism()}) | ` +
      `pool threads ${threads} | ${trivial.size} trivial processors | ${loop.concurrency} events in flight | ` +
      `${rounds} rounds x ${loop.measureMs / 1000} s after ${loop.warmupMs / 1000} s warm-up`,
  );

  const pool = await interleavedRounds({
    sides: ['ours', 'raw Piscina'] as const,
    rounds,
    // The process is fresh: the first run of either side would warm the JIT (and Piscina's and
    // Node's code) for the other, and ours always ran first. One run of each first, not counted.
    warmup: ['ours', 'raw Piscina'],
    run: (side) =>
      side === 'ours'
        ? orchestratorThroughput(trivial, threads, maxHeapMb, loop)
        : rawPiscinaThroughput(files, paths.rawWorker, threads, loop),
    progress: { say: progress, label: 'pool', show: (side, eps) => `${side} ${int(eps)} events/s` },
  });
  const eps = (n: number) => n;
  const oursEps = pool.median('ours', eps);
  const rawEps = pool.median('raw Piscina', eps);

  const spawnEps = await workerPerRunThroughput(
    files,
    paths.spawnWorker,
    settings.spawnEvents,
    settings.spawnWarmupEvents,
  );
  progress(`new Worker per run: ${spawnEps.toFixed(1)} events/s`);

  const lateness = (processor: InstalledProcessor) =>
    timeoutLateness(processor, settings.latenessRuns, settings.latenessWarmupRuns, threads, maxHeapMb);
  const spinLateness = await lateness(spin);
  progress('busy-looping processor done');
  const signalLateness = await lateness(signal);
  progress('signal-honouring processor done');

  console.log(`pool rounds (events/s): ${pool.summary(eps, int)}`);
  return [
    quotientRow(MEASURES.poolThroughput, {
      detail: `events/s (median of ${rounds})`,
      ours: oursEps,
      baseline: rawEps,
      show: int,
      bound: { atLeast: targets.throughputRatio },
    }),
    row(MEASURES.workerPerRun, {
      detail: 'events/s',
      ours: int(oursEps),
      baseline: spawnEps.toFixed(1),
      ratio: `${int(oursEps / spawnEps)}x`,
      target: {
        text: `>= ${targets.workerPerRunRatio}x`,
        met: oursEps / spawnEps >= targets.workerPerRunRatio,
      },
    }),
    ...latenessRows(
      { lateness: MEASURES.busyLoopLateness, replaced: MEASURES.busyLoopReplaced },
      `timeoutMs ${spin.timeoutMs}, n=${settings.latenessRuns}`,
      spinLateness,
      targets.latenessP99Ms,
    ),
    ...latenessRows(
      { lateness: MEASURES.signalLateness, replaced: MEASURES.signalReplaced },
      `timeoutMs ${signal.timeoutMs}, n=${settings.latenessRuns}`,
      signalLateness,
    ),
  ];
}
