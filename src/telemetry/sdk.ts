// The OpenTelemetry SDK, imported only when an OTLP endpoint is configured: with none, nothing
// here is loaded and the service records through the API's no-ops.
import { metrics, SpanStatusCode, trace } from '@opentelemetry/api';
import { hrTimeDuration, millisToHrTime } from '@opentelemetry/core';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

import type { Config, OtlpTarget, TraceSampler } from '../config.js';
import { serviceVersion } from '../version.js';
import { createMetrics } from './metrics.js';
import { INSTRUMENTATION_SCOPE, noTelemetry, type Telemetry } from './telemetry.js';
import type { ThreadSpan } from './thread-span.js';

/** Spans of worker threads are exported under this scope. */
const THREAD_SCOPE = { name: `${INSTRUMENTATION_SCOPE}/worker-thread` };

/**
 * Starts exporting what the configuration names (OTLP over HTTP, protobuf or JSON), and registers
 * the providers globally. No context manager is installed and no library is instrumented: every
 * span of the service is made with its parent passed explicitly (the document requests' too, see
 * `http-client-span.ts`), because Node 20's AsyncLocalStorage, once a context is entered, runs
 * hooks on every promise of the process: about 0.1 ms of CPU per event here (docs/telemetry.md).
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

  let tracerProvider: BasicTracerProvider | undefined;
  let spans: BatchSpanProcessor | undefined;
  if (config.traces) {
    spans = new BatchSpanProcessor(await spanExporter(config.traces));
    tracerProvider = new BasicTracerProvider({
      resource,
      sampler: sampler(config.sampler, config.samplerRatio),
      spanProcessors: [spans],
    });
    trace.setGlobalTracerProvider(tracerProvider);
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
    tracing: tracerProvider !== undefined,
    tracer: tracerProvider?.getTracer(INSTRUMENTATION_SCOPE, serviceVersion()) ?? off.tracer,
    meter,
    metrics: createMetrics(meter),
    projectId,
    adopt: (threadSpans) => {
      if (!spans) return;
      for (const span of threadSpans) spans.onEnd(readable(span, resource));
    },
    shutdown: async () => {
      await Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()]);
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

/** A worker thread's span as the SDK's exporters read a finished span. */
function readable(span: ThreadSpan, resource: ReadableSpan['resource']): ReadableSpan {
  const startTime = millisToHrTime(span.startMs);
  const endTime = millisToHrTime(Math.max(span.startMs, span.endMs));
  const { traceId, traceFlags } = span;
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => ({ traceId, spanId: span.spanId, traceFlags }),
    parentSpanContext: { traceId, spanId: span.parentSpanId, traceFlags },
    startTime,
    endTime,
    status:
      span.error === undefined
        ? { code: SpanStatusCode.UNSET }
        : { code: SpanStatusCode.ERROR, message: span.error },
    attributes: span.attributes,
    links: [],
    events: [],
    duration: hrTimeDuration(startTime, endTime),
    ended: true,
    resource,
    instrumentationScope: THREAD_SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
