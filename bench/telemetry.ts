// What telemetry costs end to end through the Pub/Sub emulator: `serve` with three trivial
// processors, exporting traces and metrics at 100 % sampling to a loopback OTLP receiver, against
// the same with nothing exported, alternating, in the same run. With BENCH_BASELINE_CLI set to
// another build's `dist/src/cli.js` (the commit before telemetry, say), that build runs too,
// against telemetry off: the cost of merely having it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { startEmulator } from '../src/pubsub/emulator.js';
import { pubsubRun, type PubSubShape } from './pubsub.js';
import { median, medianIfKnown } from './stats.js';
import { int, verdict, type Row } from './table.js';

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

export async function telemetryRows(
  settings: TelemetrySettings,
  progress: (m: string) => void,
): Promise<Row[]> {
  const emulator = process.env['PUBSUB_EMULATOR_HOST'] ? undefined : await startEmulator();
  const host = process.env['PUBSUB_EMULATOR_HOST'] ?? emulator?.host ?? '';
  const baselineCli = process.env['BENCH_BASELINE_CLI'];
  const sink = await startSink();
  try {
    const eps: Record<Side, number[]> = { off: [], on: [], baseline: [] };
    const cpu: Record<Side, (number | undefined)[]> = { off: [], on: [], baseline: [] };
    const run = async (side: Side) => {
      const env: Record<string, string> =
        side === 'on'
          ? {
              OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
              OTEL_TRACES_SAMPLER: 'always_on',
              OTEL_METRIC_EXPORT_INTERVAL: '1000',
            }
          : {};
      const { steadyEventsPerSecond, cpuUsPerEvent } = await pubsubRun(
        'orchestrator',
        host,
        settings.shape,
        env,
        undefined,
        side === 'baseline' ? baselineCli : undefined,
      );
      return { steadyEventsPerSecond, cpuUsPerEvent };
    };
    // The emulator's JIT warms over the first runs (events/s rose 70 % over five rounds): one
    // round of each side first, not counted.
    progress('telemetry: warming the emulator up');
    await run('off');
    await run('on');
    for (let round = 1; round <= settings.rounds; round++) {
      const sides: Side[] = ['off', 'on', ...(baselineCli ? (['baseline'] as const) : [])];
      if (round % 2 === 0) sides.reverse();
      for (const side of sides) {
        const { steadyEventsPerSecond, cpuUsPerEvent } = await run(side);
        eps[side].push(steadyEventsPerSecond);
        cpu[side].push(cpuUsPerEvent);
      }
      progress(
        `telemetry round ${round}/${settings.rounds}: off ${int(eps.off.at(-1))} events/s, ` +
          `on ${int(eps.on.at(-1))}${baselineCli ? `, before telemetry ${int(eps.baseline.at(-1))}` : ''}`,
      );
    }
    if (sink.received.requests === 0)
      throw new Error('bench: the OTLP receiver got nothing with telemetry on');
    // Each ratio is the median of the rounds' own ratios: the sides of one round ran back to back.
    const ratio = (a: number[], b: number[]) => median(a.map((x, i) => x / (b[i] ?? NaN)));
    const off = median(eps.off);
    const on = median(eps.on);
    const onRatio = ratio(eps.on, eps.off);
    const { rounds, shape, targets } = settings;
    const rows: Row[] = [
      {
        measure: `(t) Pub/Sub events/s at steady state, burst of ${shape.burstEvents}, traces+metrics at 100 % vs off (median of ${rounds} rounds)`,
        ours: int(on),
        baseline: int(off),
        ratio: onRatio.toFixed(2),
        target: `>= ${targets.onRatio}`,
        verdict: verdict(onRatio >= targets.onRatio),
      },
    ];
    // What the service itself spends on telemetry, apart from the cores it shares with the emulator.
    const [cpuOn, cpuOff] = [medianIfKnown(cpu.on), medianIfKnown(cpu.off)];
    if (cpuOn !== undefined && cpuOff !== undefined) {
      rows.push({
        measure: "(t'') serve's CPU per event, all threads, during the burst: traces+metrics at 100 % vs off",
        ours: `${int(cpuOn)} µs`,
        baseline: `${int(cpuOff)} µs`,
        ratio: `+${int(cpuOn - cpuOff)} µs`,
        target: '-',
        verdict: 'info',
      });
    }
    if (baselineCli) {
      const offRatio = ratio(eps.off, eps.baseline);
      rows.push({
        measure: `(t') Pub/Sub events/s at steady state, telemetry off vs the build at BENCH_BASELINE_CLI (median of ${rounds} rounds)`,
        ours: int(off),
        baseline: int(median(eps.baseline)),
        ratio: offRatio.toFixed(2),
        target: `>= ${targets.offVsBaselineRatio}`,
        verdict: verdict(offRatio >= targets.offVsBaselineRatio),
      });
    }
    console.log(
      `telemetry rounds (events/s): off ${eps.off.map(int).join(', ')}; on ${eps.on.map(int).join(', ')}` +
        (baselineCli ? `; before telemetry ${eps.baseline.map(int).join(', ')}` : '') +
        `; receiver got ${sink.received.requests} exports, ${int(sink.received.bytes / 1024)} KiB`,
    );
    return rows;
  } finally {
    await sink.close();
    await emulator?.stop();
  }
}
