// The OpenTelemetry SDK, imported only when an OTLP endpoint is configured: with none, nothing
// here is loaded and the service records through the API's no-ops.
import { metrics, trace } from '@opentelemetry/api';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

import type { Config, OtlpTarget, TraceSampler } from '../config.js';
import { serviceVersion } from '../version.js';
import { createMetrics } from './metrics.js';
import { readable } from './readable-span.js';
import { RecordingTracer } from './recording-tracer.js';
import { INSTRUMENTATION_SCOPE, noTelemetry, type Telemetry } from './telemetry.js';

/** Spans made on this thread, and those made in the worker threads that run processors. */
const SCOPES = {
  main: { name: INSTRUMENTATION_SCOPE, version: serviceVersion() },
  thread: { name: `${INSTRUMENTATION_SCOPE}/worker-thread` },
};

/**
 * Starts exporting what the configuration names (OTLP over HTTP, protobuf or JSON), and registers
 * the providers globally. Spans, this thread's and the worker threads', are recorded as plain
 * records (`recording-tracer.ts`, `thread-recorder.ts`) and become what the exporters read only
 * once they end; the SDK batches and exports them, and records and exports the metrics. No
 * context manager is installed and no library is instrumented: every span of the service is made
 * with its parent passed explicitly (the document requests' too, see `http-client-span.ts`),
 * because Node 20's AsyncLocalStorage, once a context is entered, runs hooks on every promise of
 * the process: about 0.1 ms of CPU per event here (docs/telemetry.md).
 */
export async function startTelemetry(
  config: Config['telemetry'],
  projectId: string | undefined,
): Promise<Telemetry> {
  const resource = resourceFromAttributes({
    'service.name': config.serviceName,
    'service.version': serviceVersion(),
  }).merge(detectResources({ detectors: [envDetector] }));
  const off = noTelemetry(projectId);

  let spans: BatchSpanProcessor | undefined;
  let tracer = off.tracer;
  if (config.traces) {
    const processor = new BatchSpanProcessor(await spanExporter(config.traces));
    const sampling = sampler(config.sampler, config.samplerRatio);
    tracer = new RecordingTracer(sampling, new RandomIdGenerator(), (span) =>
      processor.onEnd(readable(span, resource, SCOPES.main)),
    );
    trace.setGlobalTracerProvider({ getTracer: () => tracer });
    spans = processor;
  }

  let meterProvider: MeterProvider | undefined;
  if (config.metrics) {
    meterProvider = new MeterProvider({
      resource,
      readers: [
        new PeriodicExportingMetricReader({
          exporter: await metricExporter(config.metrics),
          exportIntervalMillis: config.metrics.intervalMs,
          exportTimeoutMillis: Math.min(30_000, config.metrics.intervalMs),
        }),
      ],
    });
    metrics.setGlobalMeterProvider(meterProvider);
  }

  const meter = meterProvider?.getMeter(INSTRUMENTATION_SCOPE, serviceVersion()) ?? off.meter;
  return {
    tracing: spans !== undefined,
    tracer,
    meter,
    metrics: createMetrics(meter, meterProvider !== undefined),
    projectId,
    adopt: (threadSpans) => {
      if (!spans) return;
      for (const span of threadSpans) spans.onEnd(readable(span, resource, SCOPES.thread));
    },
    shutdown: async () => {
      await Promise.allSettled([spans?.shutdown(), meterProvider?.shutdown()]);
    },
  };
}

function sampler(name: TraceSampler, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

async function spanExporter({ url, protocol }: OtlpTarget): Promise<SpanExporter> {
  const { OTLPTraceExporter } =
    protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url });
}

async function metricExporter({ url, protocol }: OtlpTarget): Promise<PushMetricExporter> {
  const { OTLPMetricExporter } =
    protocol === 'http/json'
      ? await import('@opentelemetry/exporter-metrics-otlp-http')
      : await import('@opentelemetry/exporter-metrics-otlp-proto');
  return new OTLPMetricExporter({ url });
}
