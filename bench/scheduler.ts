import { availableParallelism } from 'node:os';

import { discoverProcessors } from '../src/processors/discovery.js';
import type { ProcessingCompleted } from '../src/events/processing-completed.js';
import { fixturePaths } from './paths.js';
import { createPipeline, underwritingEvent, type Pipeline } from './setup.js';
import { verdict, type Row } from './table.js';

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

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const row = (measure: string, ours: string, baseline: string, target: string, met: boolean): Row => ({
  measure,
  ours,
  baseline,
  ratio: '-',
  target,
  verdict: verdict(met),
});

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
  const { targets } = settings;
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
    progress(`scheduler: one I/O event ${s(wall(one))}`);

    const burst = await peakRss(async () => {
      const started = performance.now();
      await Promise.all(Array.from({ length: settings.burstEvents }, () => event(io)));
      return performance.now() - started;
    });
    progress(
      `scheduler: ${settings.burstEvents} I/O events ${s(burst.value)}, peak RSS ${burst.peakMb.toFixed(0)} MB`,
    );

    const cpuStarted = performance.now();
    const cpu = await Promise.all(Array.from({ length: settings.cpuRuns }, () => event(['bench_cpu'])));
    const cpuAllMs = performance.now() - cpuStarted;
    const cpuRunMs = Math.max(
      ...cpu.map((r) => (r.completed_processors[0]?.execution_time ?? Infinity) * 1000),
    );
    progress(`scheduler: ${settings.cpuRuns} CPU runs ${s(cpuAllMs)}, slowest run ${s(cpuRunMs)}`);

    const backlog = Array.from({ length: settings.cpuRuns }, () => event(['bench_cpu']));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const mixed = await event(io);
    await Promise.all(backlog);
    progress(`scheduler: I/O event beside the CPU backlog ${s(wall(mixed))}`);

    const idealCpuMs = (settings.cpuRuns * cpuAloneMs) / cores;
    return [
      row(
        `(i) 1 event x ${io.length} processors awaiting 1 s: event total`,
        s(wall(one)),
        '-',
        `<= ${targets.oneEventS} s`,
        wall(one) <= targets.oneEventS * 1000 && one.overall_status === 'success',
      ),
      row(
        `(i) ${settings.burstEvents} events at once x ${io.length} (${settings.burstEvents * io.length} runs): all done`,
        s(burst.value),
        '-',
        `<= ${targets.burstS} s`,
        burst.value <= targets.burstS * 1000,
      ),
      row(
        '(i) ... peak RSS',
        `${burst.peakMb.toFixed(0)} MB`,
        '-',
        `<= ${targets.burstRssMb} MB`,
        burst.peakMb <= targets.burstRssMb,
      ),
      row(
        `(j) ${settings.cpuRuns} runs of ${cpuAloneMs.toFixed(0)} ms CPU: all done`,
        s(cpuAllMs),
        `${s(idealCpuMs)} ideal`,
        `<= ${targets.cpuAllRatio} x ideal`,
        cpuAllMs <= targets.cpuAllRatio * idealCpuMs,
      ),
      row(
        '(j) ... slowest run execution_time vs its CPU time',
        s(cpuRunMs),
        s(cpuAloneMs),
        `<= ${targets.cpuRunRatio} x`,
        cpuRunMs <= targets.cpuRunRatio * cpuAloneMs,
      ),
      row(
        '(k) the I/O event while the CPU runs are in flight',
        s(wall(mixed)),
        '-',
        `<= ${targets.mixedEventS} s`,
        wall(mixed) <= targets.mixedEventS * 1000 && mixed.overall_status === 'success',
      ),
    ];
  } finally {
    await pool.close();
  }
}
