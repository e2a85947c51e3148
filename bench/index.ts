// `npm run bench [-- pool|scheduler|pubsub|push|documents|ledger|telemetry|capacity]`: orchestration
// throughput against raw Piscina and against a thread per run, the scheduler against its targets,
// how late a TIMEOUT settles after its deadline, end to end through the Pub/Sub emulator against a
// bare relay, what verifying push tokens in the app costs, the HTTP document fetch against its
// ideal, the execution ledger's cost, what exporting traces and metrics costs, and what an
// instance holds inside a 2 GiB memory limit against a library-and-Piscina reference. Prints one
// table; exits 0 even when a target is missed (the table says so), 1 only when a bench breaks.
import { availableParallelism } from 'node:os';

import { DEFAULTS } from '../src/config.js';
import { capacityRows, type CapacitySettings } from './capacity/section.js';
import { documentsRows, type DocumentsSettings } from './documents.js';
import { ledgerRows, type LedgerSettings } from './ledger.js';
import { poolRows, type PoolSettings } from './pool.js';
import { pubsubRows, type PubSubSettings } from './pubsub.js';
import { pushRows, type PushSettings } from './push.js';
import { schedulerRows, type SchedulerSettings } from './scheduler.js';
import { resultsTable, type Row } from './table.js';
import { telemetryRows, type TelemetrySettings } from './telemetry.js';

const SETTINGS = {
  pool: {
    threads: availableParallelism(),
    maxHeapMb: DEFAULTS.PROCESSOR_MAX_HEAP_MB,
    rounds: 3,
    loop: { concurrency: 64, warmupMs: 500, measureMs: 3_000 },
    spawnEvents: 20,
    spawnWarmupEvents: 2,
    latenessRuns: 50,
    latenessWarmupRuns: 2,
    targets: { throughputRatio: 0.8, workerPerRunRatio: 100, latenessP99Ms: 20 },
  } satisfies PoolSettings,
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

const progress = (message: string) => process.stderr.write(`bench: ${message}\n`);

/** Each section, by the name `npm run bench -- NAME` runs it by, in the order they run. */
const SECTIONS = {
  pool: () => poolRows(SETTINGS.pool, progress),
  scheduler: () => schedulerRows(SETTINGS.scheduler, progress),
  pubsub: () => pubsubRows(SETTINGS.pubsub, progress),
  push: () => pushRows(SETTINGS.push, progress),
  documents: () => documentsRows(SETTINGS.documents, progress),
  ledger: () => ledgerRows(SETTINGS.ledger, progress),
  telemetry: () => telemetryRows(SETTINGS.telemetry, progress),
  capacity: () => capacityRows(SETTINGS.capacity, progress),
} satisfies Record<string, () => Promise<Row[]>>;

type Section = keyof typeof SECTIONS;
const NAMES = Object.keys(SECTIONS) as Section[];

async function main(argv: string[]): Promise<void> {
  const unknown = argv.filter((a) => !(NAMES as string[]).includes(a));
  if (unknown.length > 0)
    throw new Error(`unknown section ${unknown.join(', ')}; sections: ${NAMES.join(', ')}`);
  const started = performance.now();
  const rows: Row[] = [];
  for (const name of NAMES)
    if (argv.length === 0 || argv.includes(name)) rows.push(...(await SECTIONS[name]()));
  process.stdout.write(resultsTable(rows));
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exitCode = 1;
});
