// End to end through the Pub/Sub emulator: `serve` with three trivial processors against a bare
// relay (receive, publish one reply, ack), each its own process on fresh topics, in the same run.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Message, Subscription, Topic } from '@google-cloud/pubsub';

import { examplesDir, packageRoot } from '../src/paths.js';
import { discoverProcessors } from '../src/processors/discovery.js';
import { createPubSub } from '../src/transport/pubsub-client.js';
import { spawnContender } from './child.js';
import { processCpuMs } from './cpu.js';
import { withEmulators } from './emulators.js';
import { MEASURES } from './measures.js';
import { fixturePaths } from './paths.js';
import { interleavedRounds, type Rounds } from './rounds.js';
import { medianIfKnown, quantile } from './stats.js';
import { int, ms1, quotientRow, row, signedMs, type Row } from './table.js';
import { rawPiscinaThroughput, type LoopShape } from './throughput.js';

/** `relay` uses `serve`'s pull transport and publish settings; `relay-defaults` the client library's. */
export type Contender = 'serve' | 'relay' | 'relay-defaults';

export interface PubSubShape {
  /** Events published at once; events/s is counted from the first publish to the last reply. */
  burstEvents: number;
  /** Events sent before measuring (connections, JIT, leases warm up). */
  warmupEvents: number;
  /** Paced load for latency: this many events per second, for `pacedEvents` events. */
  pacedRate: number;
  pacedEvents: number;
}

export interface PubSubRun {
  eventsPerSecond: number;
  /** Events/s after the first quarter of the burst's replies: start-up left out. */
  steadyEventsPerSecond: number;
  /** Publish → reply latencies at the paced rate, in ms. */
  latenciesMs: number[];
  /** The contender's CPU time (all its threads) per event of the burst, in µs; undefined off Linux. */
  cpuUsPerEvent: number | undefined;
}

const PROJECT = 'bench-project';
let runs = 0;

const EVENT = (i: number) =>
  Buffer.from(
    JSON.stringify({
      event: 'underwriting.created',
      data: { underwriting_id: `uw_bench_${i}`, documents: ['doc_001'] },
    }),
  );

export interface RunOptions {
  /** Added to the contender's environment. */
  env?: Record<string, string>;
  /** Reads the contender's log lines. */
  onStderr?: (chunk: string) => void;
  /** Another build's `dist/src/cli.js`, run as `serve`. */
  cli?: string;
}

/** One contender as its own process, on fresh topics: a burst, then a paced load. */
export async function pubsubRun(
  contender: Contender,
  host: string,
  shape: PubSubShape,
  options: RunOptions = {},
): Promise<PubSubRun> {
  const pubsub = createPubSub({ projectId: PROJECT, emulatorHost: host });
  const run = ++runs;
  const names = { in: `bench-in-${process.pid}-${run}`, out: `bench-out-${process.pid}-${run}` };
  const [inTopic] = await pubsub.createTopic(names.in);
  await inTopic.createSubscription(`${names.in}-sub`, { ackDeadlineSeconds: 60 });
  const [outTopic] = await pubsub.createTopic(names.out);
  const [outSub] = await outTopic.createSubscription(`${names.out}-sub`, { ackDeadlineSeconds: 60 });
  const replies = collectReplies(outSub);
  const child = startContender(contender, host, names, options);
  let stopping = false;
  // A contender that dies fails the run at once instead of leaving it waiting for replies.
  const died = once(child, 'exit').then(([code]) => {
    if (!stopping) throw new Error(`bench: ${contender} exited with ${String(code)} during the run`);
  });
  const unlessDied = <T>(work: Promise<T>): Promise<T> => Promise.race([work, died.then(() => work)]);
  try {
    const burstTopic = pubsub.topic(names.in, { batching: { maxMessages: 1000, maxMilliseconds: 5 } });
    await unlessDied(burst(burstTopic, replies, 0, shape.warmupEvents));
    const cpuFrom = processCpuMs(child.pid);
    const burstStart = performance.now();
    const arrivals = await unlessDied(burst(burstTopic, replies, shape.warmupEvents, shape.burstEvents));
    const cpuTo = processCpuMs(child.pid);
    const cpuUsPerEvent =
      cpuFrom === undefined || cpuTo === undefined
        ? undefined
        : ((cpuTo - cpuFrom) * 1000) / shape.burstEvents;
    const eventsPerSecond = shape.burstEvents / ((performance.now() - burstStart) / 1000);
    arrivals.sort((a, b) => a - b);
    const quarter = Math.floor(arrivals.length / 4);
    const steadyEventsPerSecond =
      (arrivals.length - 1 - quarter) / (((arrivals.at(-1) ?? 0) - (arrivals[quarter] ?? 0)) / 1000);
    const pacedTopic = pubsub.topic(names.in, { batching: { maxMessages: 1, maxMilliseconds: 0 } });
    const latenciesMs = shape.pacedEvents > 0 ? await unlessDied(paced(pacedTopic, replies, shape)) : [];
    return { eventsPerSecond, steadyEventsPerSecond, latenciesMs, cpuUsPerEvent };
  } finally {
    stopping = true;
    child.kill('SIGTERM');
    await died;
    await replies.close();
    await pubsub.close();
  }
}

interface Replies {
  /** Resolves when a reply to `sourceMessageId` arrives, with its arrival time. */
  waitFor(sourceMessageId: string): Promise<number>;
  close(): Promise<void>;
}

function collectReplies(subscription: Subscription): Replies {
  const arrived = new Map<string, number>();
  const waiting = new Map<string, (at: number) => void>();
  subscription.on('message', (message: Message) => {
    const at = performance.now();
    message.ack();
    const id = message.attributes['source_message_id'] ?? '';
    const wake = waiting.get(id);
    if (wake) {
      waiting.delete(id);
      wake(at);
    } else arrived.set(id, at);
  });
  subscription.on('error', (err: unknown) => console.error('bench: reply subscription:', err));
  return {
    waitFor: (id) => {
      const at = arrived.get(id);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    close: () => subscription.close(),
  };
}

/** Publishes `count` events at once; resolves with when each reply arrived. */
async function burst(topic: Topic, replies: Replies, first: number, count: number): Promise<number[]> {
  const ids = await Promise.all(
    Array.from({ length: count }, (_, i) => topic.publishMessage({ data: EVENT(first + i) })),
  );
  return withTimeout(Promise.all(ids.map((id) => replies.waitFor(id))), 120_000, 'burst replies');
}

async function paced(topic: Topic, replies: Replies, shape: PubSubShape): Promise<number[]> {
  const intervalMs = 1000 / shape.pacedRate;
  const start = performance.now();
  const pending: Promise<number>[] = [];
  for (let i = 0; i < shape.pacedEvents; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const sentAt = performance.now();
    pending.push(
      topic
        .publishMessage({ data: EVENT(1_000_000 + i) })
        .then((id) => replies.waitFor(id))
        .then((at) => at - sentAt),
    );
  }
  return withTimeout(Promise.all(pending), 120_000, 'paced replies');
}

function startContender(
  contender: Contender,
  host: string,
  names: { in: string; out: string },
  { env = {}, onStderr, cli }: RunOptions,
): ChildProcess {
  const args =
    contender === 'serve'
      ? [cli ?? join(packageRoot, 'dist', 'src', 'cli.js'), 'serve']
      : [
          join(packageRoot, 'dist', 'bench', 'relay.js'),
          ...(contender === 'relay-defaults' ? ['--library-defaults'] : []),
        ];
  return spawnContender(
    contender,
    args,
    {
      GOOGLE_CLOUD_PROJECT: PROJECT,
      PUBSUB_EMULATOR_HOST: host,
      UNDERWRITING_SUBSCRIPTION: `${names.in}-sub`,
      COMPLETED_TOPIC: names.out,
      PROCESSORS_DIR: fixturePaths().trivialDir,
      DOCUMENTS_DIR: join(examplesDir, 'documents'),
      PORT: '0',
      // As in production: one INFO line per event, written (and here discarded) as it would be.
      LOG_LEVEL: 'info',
      ...env,
    },
    onStderr,
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench: ${what} did not arrive within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface PubSubSettings {
  rounds: number;
  shape: PubSubShape;
  targets: { throughputRatio: number; addedP50Ms: number; floorRatio: number };
  /** The fan-out half of the composite floor: raw Piscina running each event's tasks. */
  fanOut: LoopShape;
}

/**
 * The Pub/Sub rows: events/s against the relay (alternating, median of the rounds), the added p50
 * latency at the paced rate, and for scale the relay with the client library's defaults.
 */
export async function pubsubRows(settings: PubSubSettings, progress: (m: string) => void): Promise<Row[]> {
  return withEmulators(['pubsub'], async ({ pubsub }) => {
    const runs = await interleavedRounds({
      sides: ['relay', 'serve', 'relay-defaults'] as const,
      rounds: settings.rounds,
      // The emulator's JIT warms over the first runs: one of each kind of client first, not counted.
      warmup: ['relay-defaults', 'serve'],
      run: (contender, round) =>
        pubsubRun(
          contender,
          pubsub.host,
          round === 0 ? { ...settings.shape, pacedEvents: 0 } : settings.shape,
        ),
      progress: {
        say: progress,
        label: 'Pub/Sub',
        show: (side, run) => `${side} ${int(run.eventsPerSecond)} events/s`,
      },
    });
    // The composite floor (issue 13): what a bare relay with the library's defaults and raw Piscina
    // fan-out of the same three tasks would give, were one to feed the other for free.
    const paths = fixturePaths();
    const files = [...(await discoverProcessors(paths.trivialDir)).values()].map((p) => p.file);
    const fanOut = await rawPiscinaThroughput(
      files,
      paths.rawWorker,
      availableParallelism(),
      settings.fanOut,
    );
    return pubsubRowsOf(settings, runs, fanOut);
  });
}

/** The rows, from the rounds and the fan-out's events/s. */
function pubsubRowsOf(settings: PubSubSettings, runs: Rounds<Contender, PubSubRun>, fanOut: number): Row[] {
  const eps = (c: Contender) => runs.median(c, (r) => r.eventsPerSecond);
  const steady = (c: Contender) => runs.median(c, (r) => r.steadyEventsPerSecond);
  const floor = 1 / (1 / steady('relay-defaults') + 1 / fanOut);
  const p = (c: Contender, q: number) => runs.median(c, (r) => quantile(r.latenciesMs, q));
  const addedP50 = p('serve', 0.5) - p('relay', 0.5);
  // What (l) is made of: CPU per event of each process, against which the cores and the emulator
  // are shared. The fan-out loop keeps every core busy, so its share is the cores over its rate.
  const cpu = (c: Contender) => medianIfKnown(runs.runs[c].map((r) => r.cpuUsPerEvent));
  const fanOutUs = (availableParallelism() * 1e6) / fanOut;
  const [serveUs, relayUs] = [cpu('serve'), cpu('relay-defaults')];
  const { targets, shape, rounds } = settings;
  const latency = (q: number) => ({ ours: ms1(p('serve', q)), baseline: ms1(p('relay', q)) });
  return [
    quotientRow(MEASURES.pullVsRelay, {
      detail: `events/s, burst of ${shape.burstEvents}, serve vs relay (median of ${rounds})`,
      ours: eps('serve'),
      baseline: eps('relay'),
      show: int,
      bound: { atLeast: targets.throughputRatio },
    }),
    row(MEASURES.latencyP50VsRelay, {
      detail: `at ${shape.pacedRate} events/s`,
      ...latency(0.5),
      ratio: signedMs(addedP50),
      target: { text: `<= +${targets.addedP50Ms} ms`, met: addedP50 <= targets.addedP50Ms },
    }),
    row(MEASURES.latencyP99VsRelay, {
      detail: `at ${shape.pacedRate} events/s`,
      ...latency(0.99),
      ratio: signedMs(p('serve', 0.99) - p('relay', 0.99)),
    }),
    quotientRow(MEASURES.steadyVsFloor, {
      detail: `events/s, defaults, serve vs 1 / (1 / relay-defaults ${int(steady('relay-defaults'))} + 1 / raw Piscina fan-out ${int(fanOut)})`,
      ours: steady('serve'),
      baseline: floor,
      show: int,
      bound: { atLeast: targets.floorRatio },
    }),
    row(MEASURES.cpuVsFloor, {
      detail: 'all threads, burst: serve vs relay-defaults + fan-out (cores / its events/s)',
      ours: serveUs === undefined ? '-' : `${int(serveUs)} µs`,
      baseline: relayUs === undefined ? '-' : `${int(relayUs)} + ${int(fanOutUs)} µs`,
      ratio:
        serveUs === undefined || relayUs === undefined
          ? '-'
          : `${(serveUs / (relayUs + fanOutUs)).toFixed(1)}×`,
    }),
    quotientRow(MEASURES.pullVsLibraryRelay, {
      detail: 'events/s, 5 streams',
      ours: eps('serve'),
      baseline: eps('relay-defaults'),
      show: int,
    }),
  ];
}
