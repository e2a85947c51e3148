import { availableParallelism } from 'node:os';

import { discoverProcessors } from '../src/processors/discovery.js';
import type { ProcessingCompleted } from '../src/events/processing-completed.js';
import { fixturePaths } from './paths.js';
import { createPipeline, underwritingEvent, type Pipeline } from './setup.js';
import { MEASURES } from './measures.js';
import { row, sec, type Row } from './table.js';

export interface SchedulerSettings {
  /** Events at once in the burst case. */
  burstEvents: number;
  cpuRuns: number;
  /** CPU time of one computing run, calibrated on this machine. */
  cpuMs: number;
  maxThreads: number;
  targets: {
    oneEventS: number;
    burstS: number;
    burstRssMb: number;
    cpuAllRatio: number;
    cpuRunRatio: number;
    mixedEventS: number;
  };
}

/** Iterations of bench_cpu's loop that take `ms` of one core here. */
export function calibrate(ms: number): number {
  const probe = 2_000_000;
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    let x = 0;
    for (let i = 0; i < probe; i++) x = (x + Math.sqrt(i)) % 1_000_003;
    best = Math.min(best, performance.now() - started + (x < 0 ? 1 : 0));
  }
  return Math.round((probe * ms) / best);
}

/** Peak RSS while `body` runs, sampled every 10 ms. */
async function peakRss<T>(body: () => Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  try {
    const value = await body();
    return { value, peakMb: Math.max(peak, process.memoryUsage.rss()) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

const wall = (r: ProcessingCompleted) => r.summary.total_execution_time * 1000;

/**
 * The scheduler against its targets: I/O runs all at once, CPU runs about one per core, and an
 * I/O event beside a CPU backlog. One pool with the production defaults (threads = the cores,
 * elastic up to `maxThreads`); its first events teach it which processors wait and which compute,
 * as an instance's first events do.
 */
export async function schedulerRows(
  settings: SchedulerSettings,
  progress: (message: string) => void,
): Promise<Row[]> {
  return schedulerRowsOf(settings, await measure(settings, progress));
}

interface Measured {
  /** How many waiting processors an I/O event runs. */
  ioProcessors: number;
  one: ProcessingCompleted;
  burst: { value: number; peakMb: number };
  cpuAloneMs: number;
  cpuAllMs: number;
  cpuRunMs: number;
  mixed: ProcessingCompleted;
}

async function measure(settings: SchedulerSettings, progress: (message: string) => void): Promise<Measured> {
  const cores = availableParallelism();
  process.env['BENCH_CPU_ITERATIONS'] = String(calibrate(settings.cpuMs));
  const paths = fixturePaths();
  const processors = new Map([
    ...(await discoverProcessors(paths.ioDir)),
    ...(await discoverProcessors(paths.cpuDir)),
  ]);
  const io = [...processors.keys()].filter((id) => id.startsWith('bench_io'));
  const { pool, orchestrator }: Pipeline = await createPipeline(
    processors,
    Math.max(2, cores),
    256,
    settings.maxThreads,
  );
  const event = (ids: string[]) => orchestrator.process(underwritingEvent(ids), { sourceMessageId: 'bench' });
  try {
    // Learn: one event of each kind.
    await event(io);
    const alone = await event(['bench_cpu']);
    const cpuAloneMs = (alone.completed_processors[0]?.execution_time ?? 0) * 1000;

    const one = await event(io);
    progress(`scheduler: one I/O event ${sec(wall(one))}`);

    const burst = await peakRss(async () => {
      const started = performance.now();
      await Promise.all(Array.from({ length: settings.burstEvents }, () => event(io)));
      return performance.now() - started;
    });
    progress(
      `scheduler: ${settings.burstEvents} I/O events ${sec(burst.value)}, peak RSS ${burst.peakMb.toFixed(0)} MB`,
    );

    const cpuStarted = performance.now();
    const cpu = await Promise.all(Array.from({ length: settings.cpuRuns }, () => event(['bench_cpu'])));
    const cpuAllMs = performance.now() - cpuStarted;
    const cpuRunMs = Math.max(
      ...cpu.map((r) => (r.completed_processors[0]?.execution_time ?? Infinity) * 1000),
    );
    progress(`scheduler: ${settings.cpuRuns} CPU runs ${sec(cpuAllMs)}, slowest run ${sec(cpuRunMs)}`);

    const backlog = Array.from({ length: settings.cpuRuns }, () => event(['bench_cpu']));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const mixed = await event(io);
    await Promise.all(backlog);
    progress(`scheduler: I/O event beside the CPU backlog ${sec(wall(mixed))}`);

    return { ioProcessors: io.length, one, burst, cpuAloneMs, cpuAllMs, cpuRunMs, mixed };
  } finally {
    await pool.close();
  }
}

function schedulerRowsOf(settings: SchedulerSettings, measured: Measured): Row[] {
  const { targets } = settings;
  const { ioProcessors, one, burst, cpuAloneMs, cpuAllMs, cpuRunMs, mixed } = measured;
  const idealCpuMs = (settings.cpuRuns * cpuAloneMs) / availableParallelism();
  return [
    row(MEASURES.waitingOneEvent, {
      detail: `1 event x ${ioProcessors} processors awaiting 1 s: event total`,
      ours: sec(wall(one)),
      target: {
        text: `<= ${targets.oneEventS} s`,
        met: wall(one) <= targets.oneEventS * 1000 && one.overall_status === 'success',
      },
    }),
    row(MEASURES.waitingBurst, {
      detail: `${settings.burstEvents} events at once x ${ioProcessors} (${settings.burstEvents * ioProcessors} runs): all done`,
      ours: sec(burst.value),
      target: { text: `<= ${targets.burstS} s`, met: burst.value <= targets.burstS * 1000 },
    }),
    row(MEASURES.waitingBurstRss, {
      ours: `${burst.peakMb.toFixed(0)} MB`,
      target: { text: `<= ${targets.burstRssMb} MB`, met: burst.peakMb <= targets.burstRssMb },
    }),
    row(MEASURES.computingAll, {
      detail: `${settings.cpuRuns} runs of ${cpuAloneMs.toFixed(0)} ms CPU: all done`,
      ours: sec(cpuAllMs),
      baseline: `${sec(idealCpuMs)} ideal`,
      target: {
        text: `<= ${targets.cpuAllRatio} x ideal`,
        met: cpuAllMs <= targets.cpuAllRatio * idealCpuMs,
      },
    }),
    row(MEASURES.computingSlowest, {
      detail: 'execution_time',
      ours: sec(cpuRunMs),
      baseline: sec(cpuAloneMs),
      target: { text: `<= ${targets.cpuRunRatio} x`, met: cpuRunMs <= targets.cpuRunRatio * cpuAloneMs },
    }),
    row(MEASURES.waitingBesideComputing, {
      detail: 'the I/O event while the CPU runs are in flight',
      ours: sec(wall(mixed)),
      target: {
        text: `<= ${targets.mixedEventS} s`,
        met: wall(mixed) <= targets.mixedEventS * 1000 && mixed.overall_status === 'success',
      },
    }),
  ];
}
