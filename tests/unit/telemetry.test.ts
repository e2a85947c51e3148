import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { createNoopMeter, ROOT_CONTEXT, trace, type Meter } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import { createOrchestrator } from '../../src/orchestrator.js';
import type { RunOutcome } from '../../src/processors/run.js';
import { noTelemetry } from '../../src/telemetry/telemetry.js';
import { createMetrics, observePool } from '../../src/telemetry/metrics.js';
import { formatTraceparent, parseTraceparent, traceLogFields } from '../../src/telemetry/traceparent.js';
import { capturingLog, repoRoot } from '../helpers/fixtures.js';

interface Instrument {
  name: string;
  unit: string | undefined;
  type: 'histogram' | 'counter' | 'gauge';
}

/** Every instrument the service creates, read through a meter that records what it is asked for. */
function instruments(exported = false): Instrument[] {
  const created: Instrument[] = [];
  const noop = createNoopMeter();
  const meter = {
    ...noop,
    createHistogram: (name: string, options?: { unit?: string }) => {
      created.push({ name, unit: options?.unit, type: 'histogram' });
      return noop.createHistogram(name);
    },
    createCounter: (name: string, options?: { unit?: string }) => {
      created.push({ name, unit: options?.unit, type: 'counter' });
      return noop.createCounter(name);
    },
    // An exported counter is a tally read through an observable counter: a counter all the same.
    createObservableCounter: (name: string, options?: { unit?: string }) => {
      created.push({ name, unit: options?.unit, type: 'counter' });
      return noop.createObservableCounter(name);
    },
    createObservableGauge: (name: string, options?: { unit?: string }) => {
      created.push({ name, unit: options?.unit, type: 'gauge' });
      return noop.createObservableGauge(name);
    },
    addBatchObservableCallback: () => {},
  } as unknown as Meter;
  createMetrics(meter, exported);
  observePool(meter, () => ({ threads: 0, busyThreads: 0, cpuSaturation: 0 }));
  return created;
}

const docs = readFileSync(join(repoRoot, 'docs', 'telemetry.md'), 'utf8');

describe('the metrics', () => {
  it('are the ones the issue names, each documented in docs/telemetry.md with its type and unit', () => {
    const created = instruments();
    expect(created.map((i) => i.name).sort()).toEqual(
      [
        'processor.run.duration',
        'processor.queue.duration',
        'processor.attempts',
        'underwriting.processed',
        'messaging.process.duration',
        'underwriting.dead_lettered',
        'documents.fetch.duration',
        'documents.fetch.retries',
        'pool.threads',
        'pool.threads.busy',
        'pool.cpu.saturation',
        'ledger.reused_runs',
        'admission.refused',
        'processor.skipped',
        'processor.circuit.transitions',
      ].sort(),
    );
    const rows = [...docs.matchAll(/^\| `([a-z_.]+)` +\| (\w+) +\| `([^`]+)` +\|/gm)].map(
      ([, name, type, unit]) => ({
        name,
        type,
        unit,
      }),
    );
    expect(rows.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
      created.sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(instruments(true).sort((a, b) => a.name.localeCompare(b.name))).toEqual(created);
  });

  it.each([
    ['cumulative', AggregationTemporality.CUMULATIVE, [3, 1], [7, 1]],
    ['delta', AggregationTemporality.DELTA, [3, 1], [4, 0]],
  ] as const)(
    'exported, count every add once per set of attributes, whatever their order (%s)',
    async (_, temporality, first, second) => {
      const exporter = new InMemoryMetricExporter(temporality);
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
      const provider = new MeterProvider({ readers: [reader] });
      const { attempts } = createMetrics(provider.getMeter('test'), true);
      const a = { 'processor.id': 'a_v1', 'processor.status': 'completed' };
      const b = { 'processor.id': 'b_v1', 'processor.status': 'failed' };
      attempts.add(1, a);
      attempts.add(2, { 'processor.status': 'completed', 'processor.id': 'a_v1' });
      attempts.add(1, b);
      attempts.add(-1, b);
      await reader.forceFlush();
      attempts.add(4, a);
      await reader.forceFlush();
      const sums = exporter.getMetrics().map(({ scopeMetrics }) => {
        const metric = scopeMetrics[0]?.metrics.find((m) => m.descriptor.name === 'processor.attempts');
        expect(metric).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: true });
        const value = (attributes: object) =>
          metric?.dataPoints.find((p) => JSON.stringify(p.attributes) === JSON.stringify(attributes))?.value;
        expect(metric?.dataPoints).toHaveLength(2);
        return [value(a), value(b)];
      });
      expect(sums).toEqual([first, second]);
      await provider.shutdown();
    },
  );

  it('the dashboard and the alert policies name only metrics the service records', () => {
    const names = new Set(instruments().map((i) => i.name));
    const files = [
      'dashboard.json',
      ...['dead-letters', 'processor-failure-rate', 'oldest-unacked', 'instance-restarts'].map(
        (n) => `alerts/${n}.json`,
      ),
    ];
    const used = new Set<string>();
    for (const file of files) {
      const text = readFileSync(join(repoRoot, 'deploy', 'telemetry', file), 'utf8');
      const policy = JSON.parse(text) as { displayName: string };
      expect(policy.displayName.startsWith('__SERVICE__: '), file).toBe(true);
      for (const [, name] of text.matchAll(/workload\.googleapis\.com\/([a-z_.]+)/g))
        used.add(name as string);
    }
    expect([...used].filter((name) => !names.has(name))).toEqual([]);
    for (const name of [
      'underwriting.processed',
      'processor.attempts',
      'processor.run.duration',
      'underwriting.dead_lettered',
    ])
      expect(used).toContain(name);
  });
});

describe('the OTEL_* configuration', () => {
  it('exports nothing without an endpoint, or with OTEL_SDK_DISABLED=true', () => {
    expect(loadConfig({}).telemetry).toMatchObject({ traces: undefined, metrics: undefined });
    const disabled = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' });
    expect(disabled.telemetry).toMatchObject({ traces: undefined, metrics: undefined });
  });

  it('resolves the general endpoint per signal, and lets each signal override it', () => {
    const general = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).telemetry;
    expect(general.traces).toEqual({ url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf' });
    expect(general.metrics).toMatchObject({
      url: 'http://collector:4318/v1/metrics',
      protocol: 'http/protobuf',
    });
    const own = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/v1/t',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    }).telemetry;
    expect(own.traces).toEqual({ url: 'https://traces.example/v1/t', protocol: 'http/json' });
    expect(own.metrics).toMatchObject({ url: 'http://collector:4318/v1/metrics', protocol: 'http/protobuf' });
    const metricsOnly = loadConfig({
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:4318/v1/metrics',
    }).telemetry;
    expect(metricsOnly.traces).toBeUndefined();
  });

  it.each([
    [
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      'OTEL_EXPORTER_OTLP_PROTOCOL: must be http/protobuf or http/json',
    ],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT: '],
    [{ OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER: must be one of'],
    [{ OTEL_TRACES_SAMPLER_ARG: '2' }, 'OTEL_TRACES_SAMPLER_ARG: '],
    [{ OTEL_SDK_DISABLED: 'yes' }, 'OTEL_SDK_DISABLED: must be true or false'],
  ])('stops with one line naming the variable for %j', (env, line) => {
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    try {
      loadConfig(env);
    } catch (err) {
      expect((err as Error).message.startsWith(line)).toBe(true);
    }
  });
});

describe('trace context', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';

  it('reads a W3C traceparent and writes it back', () => {
    const parsed = parseTraceparent(`00-${traceId}-${spanId}-01`);
    expect(parsed).toEqual({ traceId, spanId, traceFlags: 1, isRemote: true });
    expect(parsed && formatTraceparent(parsed)).toBe(`00-${traceId}-${spanId}-01`);
  });

  it.each([
    undefined,
    '',
    'garbage',
    `00-${'0'.repeat(32)}-${spanId}-01`,
    `00-${traceId}-${'0'.repeat(16)}-01`,
    `01-${traceId}-${spanId}-01x`,
  ])('ignores a missing or invalid traceparent: %j', (value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it("gives Cloud Logging's three fields, the trace only when the project is known", () => {
    const spanContext = { traceId, spanId, traceFlags: 0 };
    expect(traceLogFields(spanContext, 'p1')).toEqual({
      'logging.googleapis.com/trace': `projects/p1/traces/${traceId}`,
      'logging.googleapis.com/spanId': spanId,
      'logging.googleapis.com/trace_sampled': false,
    });
    expect(traceLogFields(spanContext, undefined)).not.toHaveProperty('logging.googleapis.com/trace');
    expect(traceLogFields(undefined, 'p1')).toBeUndefined();
  });
});

describe('the orchestrator, with nothing exported', () => {
  it("counts reused ledger runs and names the publisher's trace on its log lines", async () => {
    const added: [string, number, unknown][] = [];
    const noop = createNoopMeter();
    const meter = {
      ...noop,
      createHistogram: (name: string) => noop.createHistogram(name),
      createCounter: (name: string) => ({
        add: (value: number, attributes?: unknown) => added.push([name, value, attributes]),
      }),
    } as unknown as Meter;
    const telemetry = {
      ...noTelemetry('p1'),
      metrics: createMetrics(meter),
    };
    const { log, lines } = capturingLog();
    const orchestrator = createOrchestrator({
      pool: {
        run: (run) =>
          Promise.resolve({
            status: 'completed',
            processor_id: run.processorId,
            execution_id: 'e',
            execution_time: 0,
            attempts: 1,
            factors: {},
          }),
      },
      processors: new Map(
        ['a_v1', 'b_v1'].map((id) => [
          id,
          {
            id,
            version: '1',
            timeoutMs: undefined,
            concurrency: undefined,
            retry: undefined,
            file: `/${id}.js`,
          },
        ]),
      ),
      documents: { fetch: () => Promise.resolve({ documents: [], missing: [] }) },
      purchases: new Map(),
      defaultTimeoutMs: 1000,
      log,
      telemetry,
    });
    const recorded: RunOutcome = {
      status: 'completed',
      processor_id: 'a_v1',
      execution_id: 'r',
      execution_time: 1,
      attempts: 1,
      factors: {},
    };
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const spanId = '00f067aa0ba902b7';
    await orchestrator.process(
      { event: 'underwriting.created', data: { underwriting_id: 'uw_1', documents: [] } },
      {
        sourceMessageId: 'm1',
        recorded: new Map([['a_v1', recorded]]),
        trace: trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1, isRemote: true }),
      },
    );
    expect(added.filter(([name]) => name === 'ledger.reused_runs')).toEqual([
      ['ledger.reused_runs', 1, { 'processor.id': 'a_v1' }],
    ]);
    const processed = lines.find((l) => l['message'] === 'underwriting processed');
    expect(processed).toMatchObject({
      'logging.googleapis.com/trace': `projects/p1/traces/${traceId}`,
      'logging.googleapis.com/spanId': spanId,
      'logging.googleapis.com/trace_sampled': true,
    });
  });
});
