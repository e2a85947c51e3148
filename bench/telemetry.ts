// What telemetry costs end to end through the Pub/Sub emulator: `serve` with three trivial
// processors, exporting traces and metrics at 100 % sampling to a loopback OTLP receiver, against
// the same with nothing exported, alternating, in the same run. With BENCH_BASELINE_CLI set to
// another build's `dist/src/cli.js` (the commit before telemetry, say), that build runs too,
// against telemetry off: the cost of merely having it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { withEmulators } from './emulators.js';
import { MEASURES } from './measures.js';
import { pubsubRun, type PubSubRun, type PubSubShape } from './pubsub.js';
import { interleavedRounds, type Rounds } from './rounds.js';
import { medianIfKnown } from './stats.js';
import { boundTarget, int, row, type Row } from './table.js';

export interface TelemetrySettings {
  rounds: number;
  shape: PubSubShape;
  targets: { onRatio: number; offVsBaselineRatio: number };
}

/** Accepts OTLP/HTTP exports and counts them (the bench measures the service, not a collector). */
async function startSink() {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (received.bytes += chunk.length));
    request.on('end', () => {
      received.requests++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Side = 'off' | 'on' | 'baseline';

const EXPORTING = (sink: string): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: sink,
  OTEL_TRACES_SAMPLER: 'always_on',
  OTEL_METRIC_EXPORT_INTERVAL: '1000',
});

export async function telemetryRows(
  settings: TelemetrySettings,
  progress: (m: string) => void,
): Promise<Row[]> {
  const baselineCli = process.env['BENCH_BASELINE_CLI'];
  const sink = await startSink();
  try {
    const runs = await withEmulators(['pubsub'], ({ pubsub }) =>
      interleavedRounds({
        sides: baselineCli ? (['off', 'on', 'baseline'] as const) : (['off', 'on'] as const),
        rounds: settings.rounds,
        // The emulator's JIT warms over the first runs (events/s rose 70 % over five rounds): one
        // round of each side first, not counted.
        warmup: ['off', 'on'],
        run: (side: Side) =>
          pubsubRun('serve', pubsub.host, settings.shape, {
            ...(side === 'on' && { env: EXPORTING(sink.url) }),
            ...(side === 'baseline' && baselineCli !== undefined && { cli: baselineCli }),
          }),
        progress: {
          say: progress,
          label: 'telemetry',
          show: (side, run) => `${side} ${int(run.steadyEventsPerSecond)} events/s`,
        },
      }),
    );
    if (sink.received.requests === 0)
      throw new Error('bench: the OTLP receiver got nothing with telemetry on');
    console.log(
      `telemetry rounds (events/s): ${runs.summary((r) => r.steadyEventsPerSecond, int)}` +
        `; receiver got ${sink.received.requests} exports, ${int(sink.received.bytes / 1024)} KiB`,
    );
    return telemetryRowsOf(settings, runs, baselineCli !== undefined);
  } finally {
    await sink.close();
  }
}

/** The rows; each ratio is the median of the rounds' own ratios (the sides of one round ran back to back). */
function telemetryRowsOf(
  settings: TelemetrySettings,
  runs: Rounds<Side, PubSubRun>,
  withBaseline: boolean,
): Row[] {
  const { rounds, shape, targets } = settings;
  const steady = (r: PubSubRun) => r.steadyEventsPerSecond;
  const onRatio = runs.medianRatio('on', 'off', steady);
  const rows: Row[] = [
    row(MEASURES.telemetryThroughput, {
      detail: `steady-state events/s, burst of ${shape.burstEvents}, traces+metrics at 100 % vs off (median of ${rounds} rounds)`,
      ours: int(runs.median('on', steady)),
      baseline: int(runs.median('off', steady)),
      ratio: onRatio.toFixed(2),
      target: boundTarget(onRatio, { atLeast: targets.onRatio }),
    }),
  ];
  // What the service itself spends on telemetry, apart from the cores it shares with the emulator.
  const cpu = (side: Side) => medianIfKnown(runs.runs[side].map((r) => r.cpuUsPerEvent));
  const [cpuOn, cpuOff] = [cpu('on'), cpu('off')];
  if (cpuOn !== undefined && cpuOff !== undefined) {
    rows.push(
      row(MEASURES.telemetryCpu, {
        detail: 'all threads, during the burst: traces+metrics at 100 % vs off',
        ours: `${int(cpuOn)} µs`,
        baseline: `${int(cpuOff)} µs`,
        ratio: `+${int(cpuOn - cpuOff)} µs`,
      }),
    );
  }
  if (withBaseline) {
    const offRatio = runs.medianRatio('off', 'baseline', steady);
    rows.push(
      row(MEASURES.telemetryOffVsBaseline, {
        detail: `steady-state events/s, telemetry off vs that build (median of ${rounds} rounds)`,
        ours: int(runs.median('off', steady)),
        baseline: int(runs.median('baseline', steady)),
        ratio: offRatio.toFixed(2),
        target: boundTarget(offRatio, { atLeast: targets.offVsBaselineRatio }),
      }),
    );
  }
  return rows;
}
