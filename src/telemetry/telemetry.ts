import { createNoopMeter, trace, type Context, type Meter, type Tracer } from '@opentelemetry/api';

import { createMetrics, type Metrics } from './metrics.js';
import type { SpanRecord } from './span-record.js';
import { validSpanContext } from './trace-context.js';
import { traceLogFields } from './traceparent.js';

/** The name of this service's tracer and meter. */
export const INSTRUMENTATION_SCOPE = 'processor-orchestrator';

/**
 * What the pipeline records through. With no OTLP endpoint (`NO_TELEMETRY`, or `startTelemetry`
 * without one) the tracer and meter are OpenTelemetry's no-ops: a span started under a received
 * context carries that context on, unrecorded, so log lines still name the publisher's trace.
 */
export interface Telemetry {
  /** Spans are recorded and exported. */
  readonly tracing: boolean;
  readonly tracer: Tracer;
  readonly meter: Meter;
  readonly metrics: Metrics;
  /** The project Cloud Logging's trace field names (`GOOGLE_CLOUD_PROJECT`). */
  readonly projectId: string | undefined;
  /** Exports spans a worker thread recorded (and handed back with its result) as if made here. */
  adopt(spans: readonly SpanRecord[]): void;
  /** Flushes what is buffered and stops exporting; never rejects. */
  shutdown(): Promise<void>;
}

/** No export, no recording; contexts still flow. */
export function noTelemetry(projectId?: string): Telemetry {
  const meter = createNoopMeter();
  return {
    tracing: false,
    tracer: trace.getTracer(INSTRUMENTATION_SCOPE),
    meter,
    metrics: createMetrics(meter),
    projectId,
    adopt: () => {},
    shutdown: () => Promise.resolve(),
  };
}

/** The Cloud Logging trace fields of the span a context holds, for a child logger's bindings. */
export function logBindings(telemetry: Pick<Telemetry, 'projectId'>, ctx: Context | undefined) {
  return traceLogFields(validSpanContext(ctx), telemetry.projectId) ?? {};
}
