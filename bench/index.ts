// `npm run bench [-- pool|scheduler|pubsub|push|documents|ledger|telemetry|capacity]`: orchestration
// throughput against raw Piscina and against a thread per run, the scheduler against its targets,
// how late a TIMEOUT settles after its deadline, end to end through the Pub/Sub emulator against a
// bare relay, what verifying push tokens in the app costs, the HTTP document fetch against its
// ideal, the execution ledger's cost, what exporting traces and metrics costs, and what an
// instance holds inside a 2 GiB memory limit against a library-and-Piscina reference. Prints one
// table; exits 0 even when a target is missed (the table says so), 1 only when a bench breaks.
import { availableParallelism, cpus } from 'node:os';

import { DEFAULTS } from '../src/config.js';
import { discoverProcessors, type InstalledProcessor } from '../src/processors/discovery.js';
import { capacityRows, type CapacitySettings } from './capacity/section.js';
import { documentsRows, type DocumentsSettings } from './documents.js';
import { timeoutLateness, type Lateness } from './lateness.js';
import { ledgerRows, type LedgerSettings } from './ledger.js';
import { fixturePaths } from './paths.js';
import { pubsubRows, type PubSubSettings } from './pubsub.js';
import { pushRows, type PushSettings } from './push.js';
import { schedulerRows, type SchedulerSettings } from './scheduler.js';
import { workerPerRunThroughput } from './spawn.js';
import { median, quantile } from './stats.js';
import { int, resultsTable, verdict, type Row } from './table.js';
import { telemetryRows, type TelemetrySettings } from './telemetry.js';
import { orchestratorThroughput, rawPiscinaThroughput, type LoopShape } from './throughput.js';

const SETTINGS = {
  threads: availableParallelism(),
  maxHeapMb: DEFAULTS.PROCESSOR_MAX_HEAP_MB,
  rounds: 3,
  loop: { concurrency: 64, warmupMs: 500, measureMs: 3_000 } satisfies LoopShape,
  spawnEvents: 20,
  spawnWarmupEvents: 2,
  latenessRuns: 50,
  latenessWarmupRuns: 2,
  targets: { throughputRatio: 0.8, workerPerRunRatio: 100, latenessP99Ms: 20 },
  pubsub: {
    rounds: 3,
    shape: { burstEvents: 3_000, warmupEvents: 300, pacedRate: 200, pacedEvents: 1_000 },
    targets: { throughputRatio: 0.8, addedP50Ms: 5, floorRatio: 0.8 },
    fanOut: { concurrency: 64, warmupMs: 500, measureMs: 3_000 },
  } satisfies PubSubSettings,
  push: {
    rounds: 3,
    requests: 3_000,
    warmup: 300,
    concurrency: 32,
    targets: { authRatio: 0.9 },
  } satisfies PushSettings,
  scheduler: {
    burstEvents: 16,
    cpuRuns: 12,
    cpuMs: 200,
    maxThreads: 16,
    targets: {
      oneEventS: 1.15,
      burstS: 1.5,
      burstRssMb: 600,
      cpuAllRatio: 1.15,
      cpuRunRatio: 1.25,
      mixedEventS: 1.3,
    },
  } satisfies SchedulerSettings,
  documents: {
    documents: 50,
    delayMs: 20,
    concurrency: DEFAULTS.DOCUMENTS_CONCURRENCY,
    runs: 10,
    warmupRuns: 2,
    targets: { idealRatio: 1.2 },
  } satisfies DocumentsSettings,
  ledger: {
    rounds: 5,
    firestoreRuns: 2,
    shape: { burstEvents: 1_500, warmupEvents: 200, pacedRate: 0, pacedEvents: 0 },
    targets: { memoryRatio: 0.95, writesPerEvent: 3, readsPerEvent: 2 },
  } satisfies LedgerSettings,
  telemetry: {
    rounds: 5,
    shape: { burstEvents: 2_000, warmupEvents: 300, pacedRate: 0, pacedEvents: 0 },
    targets: { onRatio: 0.9, offVsBaselineRatio: 0.98 },
  } satisfies TelemetrySettings,
  capacity: {
    limitBytes: 2 * 2 ** 30,
    warmupEvents: { reference: 300, serve: 100 },
    backlogEvents: 1_000,
    pushEvents: 1_000,
    largeEvents: 1_500,
    steady: { seconds: 60, utilisation: 0.7, drainS: 30 },
    cold: { runs: 3, small: 6, large: 24, mixedWaiting: 6, mixedComputing: 6 },
    startups: 7,
    timeBoxS: { backlog: 300, push: 300, large: 400 },
    targets: {
      backlogRatio: 0.8,
      pushRatio: 0.8,
      largePeakShare: 0.85,
      largeTimeRatio: 3,
      slowestProcessorS: 3,
      steadyP99Ratio: 1.2,
      coldSmallS: 1.15,
      coldLargeS: 1.3,
      readyS: 0.8,
    },
  } satisfies CapacitySettings,
} as const;

const SECTIONS = [
  'pool',
  'scheduler',
  'pubsub',
  'push',
  'documents',
  'ledger',
  'telemetry',
  'capacity',
] as const;

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);
const ms = (n: number) => (Number.isNaN(n) ? 'n/a' : `${n} ms`);

function only(processors: ReadonlyMap<string, InstalledProcessor>, dir: string): InstalledProcessor {
  const [processor, ...rest] = processors.values();
  if (!processor || rest.length > 0) throw new Error(`${dir}: expected exactly one processor`);
  return processor;
}

function latenessRows(label: string, lateness: Lateness, target: boolean): Row[] {
  const { lateMs, notTimeout } = lateness;
  const p99 = quantile(lateMs, 0.99);
  const note = notTimeout > 0 ? ` (${notTimeout} runs not TIMEOUT)` : '';
  const row = (stat: string, value: number, targetText: string, verdictText: string): Row => ({
    measure: `${label}: TIMEOUT late by, ${stat}${note}`,
    ours: ms(value),
    baseline: '-',
    ratio: '-',
    target: targetText,
    verdict: verdictText,
  });
  const p99Met = notTimeout === 0 && p99 <= SETTINGS.targets.latenessP99Ms;
  return [
    row('p50', quantile(lateMs, 0.5), '-', 'info'),
    target
      ? row('p99', p99, `<= ${SETTINGS.targets.latenessP99Ms} ms`, verdict(p99Met))
      : row('p99', p99, '-', 'info'),
    row('max', quantile(lateMs, 1), '-', 'info'),
    {
      measure: `${label}: threads replaced`,
      ours: String(lateness.threadsReplaced),
      baseline: '-',
      ratio: '-',
      target: '-',
      verdict: 'info',
    },
  ];
}

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => !(SECTIONS as readonly string[]).includes(a));
  if (unknown.length > 0)
    throw new Error(`unknown section ${unknown.join(', ')}; sections: ${SECTIONS.join(', ')}`);
  const sections = argv.length > 0 ? argv : SECTIONS;
  const started = performance.now();
  const rows: Row[] = [];
  if (sections.includes('pool')) rows.push(...(await poolRows()));
  if (sections.includes('scheduler')) rows.push(...(await schedulerRows(SETTINGS.scheduler, progress)));
  if (sections.includes('pubsub')) rows.push(...(await pubsubRows(SETTINGS.pubsub, progress)));
  if (sections.includes('push')) rows.push(...(await pushRows(SETTINGS.push, progress)));
  if (sections.includes('documents')) rows.push(...(await documentsRows(SETTINGS.documents, progress)));
  if (sections.includes('ledger')) rows.push(...(await ledgerRows(SETTINGS.ledger, progress)));
  if (sections.includes('telemetry')) rows.push(...(await telemetryRows(SETTINGS.telemetry, progress)));
  if (sections.includes('capacity')) rows.push(...(await capacityRows(SETTINGS.capacity, progress)));
  process.stdout.write(resultsTable(rows));
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function poolRows(): Promise<Row[]> {
  const { threads, maxHeapMb, rounds, loop, targets } = SETTINGS;
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

  const ours: number[] = [];
  const raw: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternate which side goes first, so neither always gets the machine fresh.
    const sides = [
      async () => ours.push(await orchestratorThroughput(trivial, threads, maxHeapMb, loop)),
      async () => raw.push(await rawPiscinaThroughput(files, paths.rawWorker, threads, loop)),
    ];
    if (round % 2 === 0) sides.reverse();
    for (const side of sides) await side();
    progress(
      `round ${round}/${rounds}: ours ${int(ours.at(-1) ?? 0)} events/s, raw Piscina ${int(raw.at(-1) ?? 0)}`,
    );
  }
  const oursEps = median(ours);
  const rawEps = median(raw);

  const spawnEps = await workerPerRunThroughput(
    files,
    paths.spawnWorker,
    SETTINGS.spawnEvents,
    SETTINGS.spawnWarmupEvents,
  );
  progress(`new Worker per run: ${spawnEps.toFixed(1)} events/s`);

  const spinLateness = await timeoutLateness(
    spin,
    SETTINGS.latenessRuns,
    SETTINGS.latenessWarmupRuns,
    threads,
    maxHeapMb,
  );
  progress('busy-looping processor done');
  const signalLateness = await timeoutLateness(
    signal,
    SETTINGS.latenessRuns,
    SETTINGS.latenessWarmupRuns,
    threads,
    maxHeapMb,
  );
  progress('signal-honouring processor done');

  const rows: Row[] = [
    {
      measure: `(a) events/s, orchestrator vs raw Piscina (median of ${rounds})`,
      ours: int(oursEps),
      baseline: int(rawEps),
      ratio: (oursEps / rawEps).toFixed(2),
      target: `>= ${targets.throughputRatio}`,
      verdict: verdict(oursEps / rawEps >= targets.throughputRatio),
    },
    {
      measure: '(b) events/s, orchestrator vs new Worker per run',
      ours: int(oursEps),
      baseline: spawnEps.toFixed(1),
      ratio: `${int(oursEps / spawnEps)}x`,
      target: `>= ${targets.workerPerRunRatio}x`,
      verdict: verdict(oursEps / spawnEps >= targets.workerPerRunRatio),
    },
    ...latenessRows(
      `(c) busy loop, timeoutMs ${spin.timeoutMs}, n=${SETTINGS.latenessRuns}`,
      spinLateness,
      true,
    ),
    ...latenessRows(
      `(c') honours ctx.signal, timeoutMs ${signal.timeoutMs}, n=${SETTINGS.latenessRuns}`,
      signalLateness,
      false,
    ),
  ];
  console.log(
    `pool rounds (events/s): ours ${ours.map(int).join(', ')}; raw Piscina ${raw.map(int).join(', ')}`,
  );
  return rows;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exitCode = 1;
});
