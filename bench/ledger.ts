// The execution ledger, end to end through the Pub/Sub emulator: `serve` with three trivial
// processors under LEDGER=none and memory (alternating), and firestore (on the Firestore
// emulator), in the same run; and the Firestore reads and writes per event, as the service's client counted them.
import { startFirestoreEmulator } from '../src/ledger/emulator.js';
import type { LedgerKind } from '../src/ledger/ledger.js';
import { createMemoryLedger } from '../src/ledger/memory.js';
import type { ProcessingCompleted } from '../src/events/processing-completed.js';
import { newExecutionId } from '../src/processors/execution-id.js';
import { startEmulator } from '../src/pubsub/emulator.js';
import { pubsubRun, type PubSubShape } from './pubsub.js';
import { median } from './stats.js';
import { int, verdict, type Row } from './table.js';

export interface LedgerSettings {
  /** Rounds of none and memory (in alternating order), whose ratio has a target. */
  rounds: number;
  /** Runs of firestore, on the emulator: slower, and measured for its cost per event. */
  firestoreRuns: number;
  shape: PubSubShape;
  targets: { memoryRatio: number; writesPerEvent: number; readsPerEvent: number };
}

interface LedgerRun {
  eventsPerSecond: number;
  reads: number;
  writes: number;
}

let collections = 0;

async function ledgerRun(
  kind: LedgerKind,
  hosts: { pubsub: string; firestore: string },
  shape: PubSubShape,
): Promise<LedgerRun> {
  let log = '';
  const { eventsPerSecond } = await pubsubRun(
    'orchestrator',
    hosts.pubsub,
    shape,
    {
      LEDGER: kind,
      FIRESTORE_EMULATOR_HOST: hosts.firestore,
      LEDGER_COLLECTION: `bench_${process.pid}_${++collections}`,
    },
    (chunk) => (log += chunk),
  );
  // serve's last line counts what its ledger sent to Firestore.
  const stopped = log
    .split('\n')
    .filter((line) => line.includes('"ledger_operations"'))
    .map((line) => JSON.parse(line) as { ledger_operations: { reads: number; writes: number } })
    .at(-1);
  if (!stopped) throw new Error(`bench: serve with LEDGER=${kind} did not log its ledger operations`);
  return { eventsPerSecond, ...stopped.ledger_operations };
}

/**
 * What the memory ledger itself costs per event, in this process: claim, three outcomes, settle,
 * published; the end-to-end ratio above is at the mercy of a shared machine, this is not.
 */
async function memoryCostMicroseconds(events: number): Promise<number> {
  const ledger = createMemoryLedger();
  const result = { completed_at: new Date().toISOString() } as ProcessingCompleted;
  // Minted outside the timing: the pool mints them whatever the ledger.
  const executionIds = ['a', 'b', 'c'].map((id) => [id, newExecutionId()] as const);
  const start = performance.now();
  for (let i = 0; i < events; i++) {
    const begun = await ledger.begin({ key: `k${i}`, underwritingId: 'uw', sourceMessageId: `k${i}` });
    if (begun.state !== 'claimed') throw new Error('bench: the memory ledger did not claim a new key');
    for (const [id, executionId] of executionIds) {
      begun.claim.record({
        status: 'completed',
        processor_id: id,
        execution_id: executionId,
        execution_time: 0.001,
        attempts: 1,
        factors: { n: i },
      });
    }
    await begun.claim.settle(result);
    await begun.claim.published(result);
  }
  return ((performance.now() - start) * 1000) / events;
}

/**
 * The ledger rows: events/s with LEDGER=memory and firestore against none (median of the rounds,
 * order rotated each round), and Firestore reads and writes per event.
 */
export async function ledgerRows(settings: LedgerSettings, progress: (m: string) => void): Promise<Row[]> {
  const [pubsub, firestore] = await Promise.all([
    process.env['PUBSUB_EMULATOR_HOST'] ? undefined : startEmulator(),
    startFirestoreEmulator(),
  ]);
  const hosts = {
    pubsub: process.env['PUBSUB_EMULATOR_HOST'] ?? pubsub?.host ?? '',
    firestore: firestore.host,
  };
  try {
    const runs: Record<LedgerKind, LedgerRun[]> = { none: [], memory: [], firestore: [] };
    for (let round = 1; round <= settings.rounds; round++) {
      const order: LedgerKind[] = round % 2 === 1 ? ['none', 'memory'] : ['memory', 'none'];
      for (const kind of order) runs[kind].push(await ledgerRun(kind, hosts, settings.shape));
      progress(
        `ledger round ${round}/${settings.rounds}: none ${int(runs.none.at(-1)?.eventsPerSecond)} events/s, ` +
          `memory ${int(runs.memory.at(-1)?.eventsPerSecond)}`,
      );
    }
    for (let run = 1; run <= settings.firestoreRuns; run++) {
      runs.firestore.push(await ledgerRun('firestore', hosts, settings.shape));
      progress(
        `ledger firestore run ${run}/${settings.firestoreRuns}: ${int(runs.firestore.at(-1)?.eventsPerSecond)} events/s`,
      );
    }
    const eps = (kind: LedgerKind) => median(runs[kind].map((r) => r.eventsPerSecond));
    const events = settings.shape.warmupEvents + settings.shape.burstEvents + settings.shape.pacedEvents;
    const perEvent = (what: 'reads' | 'writes') => median(runs.firestore.map((r) => r[what] / events));
    const { targets, shape, rounds } = settings;
    const memoryRatio = eps('memory') / eps('none');
    const memoryUs = await memoryCostMicroseconds(50_000);
    return [
      {
        measure: `(h) ledger events/s, burst of ${shape.burstEvents}, LEDGER=memory vs none (median of ${rounds})`,
        ours: int(eps('memory')),
        baseline: int(eps('none')),
        ratio: memoryRatio.toFixed(2),
        target: `>= ${targets.memoryRatio}`,
        verdict: verdict(memoryRatio >= targets.memoryRatio),
      },
      {
        measure: `(h) memory ledger's own cost per event, in process, vs one event's time at none's rate`,
        ours: `${memoryUs.toFixed(1)} us`,
        baseline: `${int(1e6 / eps('none'))} us`,
        ratio: (memoryUs / (1e6 / eps('none'))).toFixed(3),
        target: '-',
        verdict: 'info',
      },
      {
        measure: `(h') ledger events/s, LEDGER=firestore on the emulator vs none (median of ${settings.firestoreRuns})`,
        ours: int(eps('firestore')),
        baseline: int(eps('none')),
        ratio: (eps('firestore') / eps('none')).toFixed(2),
        target: '-',
        verdict: 'info',
      },
      {
        measure: `(h'') Firestore writes per event, first deliveries (${events} per run)`,
        ours: perEvent('writes').toFixed(2),
        baseline: '-',
        ratio: '-',
        target: `<= ${targets.writesPerEvent}`,
        verdict: verdict(perEvent('writes') <= targets.writesPerEvent),
      },
      {
        measure: `(h'') Firestore reads per event, first deliveries`,
        ours: perEvent('reads').toFixed(3),
        baseline: '-',
        ratio: '-',
        target: `<= ${targets.readsPerEvent}`,
        verdict: verdict(perEvent('reads') <= targets.readsPerEvent),
      },
    ];
  } finally {
    await Promise.all([pubsub?.stop(), firestore.stop()]);
  }
}
