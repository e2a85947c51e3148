// The execution ledger, end to end through the Pub/Sub emulator: `serve` with three trivial
// processors under LEDGER=none and memory (alternating), and firestore (on the Firestore
// emulator), in the same run; and the Firestore reads and writes per event, as the service's client counted them.
import type { LedgerKind } from '../src/ledger/ledger.js';
import { createMemoryLedger } from '../src/ledger/memory.js';
import type { ProcessingCompleted } from '../src/events/processing-completed.js';
import { newExecutionId } from '../src/processors/execution-id.js';
import { withEmulators } from './emulators.js';
import { MEASURES } from './measures.js';
import { pubsubRun, type PubSubShape } from './pubsub.js';
import { interleavedRounds, type Rounds } from './rounds.js';
import { int, quotientRow, row, type Row } from './table.js';

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
  const { eventsPerSecond } = await pubsubRun('serve', hosts.pubsub, shape, {
    env: {
      LEDGER: kind,
      FIRESTORE_EMULATOR_HOST: hosts.firestore,
      LEDGER_COLLECTION: `bench_${process.pid}_${++collections}`,
    },
    onStderr: (chunk) => (log += chunk),
  });
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
 * order alternated each round), and Firestore reads and writes per event.
 */
export async function ledgerRows(settings: LedgerSettings, progress: (m: string) => void): Promise<Row[]> {
  return withEmulators(['pubsub', 'firestore'], async (emulators) => {
    const hosts = { pubsub: emulators.pubsub.host, firestore: emulators.firestore.host };
    const run = (kind: LedgerKind) => ledgerRun(kind, hosts, settings.shape);
    const show = (kind: LedgerKind, r: LedgerRun) => `${kind} ${int(r.eventsPerSecond)} events/s`;
    const againstNone = await interleavedRounds({
      sides: ['none', 'memory'] as const,
      rounds: settings.rounds,
      run,
      progress: { say: progress, label: 'ledger', show },
    });
    // Slower, and measured for its cost per event: runs of its own, after.
    const firestore = await interleavedRounds({
      sides: ['firestore'] as const,
      rounds: settings.firestoreRuns,
      run,
      progress: { say: progress, label: 'ledger firestore', show },
    });
    const memoryUs = await memoryCostMicroseconds(50_000);
    return ledgerRowsOf(settings, againstNone, firestore, memoryUs);
  });
}

function ledgerRowsOf(
  settings: LedgerSettings,
  againstNone: Rounds<'none' | 'memory', LedgerRun>,
  firestore: Rounds<'firestore', LedgerRun>,
  memoryUs: number,
): Row[] {
  const { targets, shape, rounds } = settings;
  const eventsPerSecond = (r: LedgerRun) => r.eventsPerSecond;
  const none = againstNone.median('none', eventsPerSecond);
  const events = shape.warmupEvents + shape.burstEvents + shape.pacedEvents;
  const perEvent = (what: 'reads' | 'writes') => firestore.median('firestore', (r) => r[what] / events);
  const operations = (what: 'reads' | 'writes', digits: number, atMost: number, detail: string) =>
    row(what === 'writes' ? MEASURES.firestoreWrites : MEASURES.firestoreReads, {
      detail,
      ours: perEvent(what).toFixed(digits),
      target: { text: `<= ${atMost}`, met: perEvent(what) <= atMost },
    });
  return [
    quotientRow(MEASURES.memoryLedger, {
      detail: `events/s, burst of ${shape.burstEvents} (median of ${rounds})`,
      ours: againstNone.median('memory', eventsPerSecond),
      baseline: none,
      show: int,
      bound: { atLeast: targets.memoryRatio },
    }),
    row(MEASURES.memoryLedgerCost, {
      detail: "in process, vs one event's time at none's rate",
      ours: `${memoryUs.toFixed(1)} us`,
      baseline: `${int(1e6 / none)} us`,
      ratio: (memoryUs / (1e6 / none)).toFixed(3),
    }),
    quotientRow(MEASURES.firestoreLedger, {
      detail: `events/s, on the emulator (median of ${settings.firestoreRuns})`,
      ours: firestore.median('firestore', eventsPerSecond),
      baseline: none,
      show: int,
    }),
    operations('writes', 2, targets.writesPerEvent, `first deliveries (${events} per run)`),
    operations('reads', 3, targets.readsPerEvent, 'first deliveries'),
  ];
}
