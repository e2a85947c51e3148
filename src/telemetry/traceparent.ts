// W3C trace context as text, and Cloud Logging's trace fields. No OpenTelemetry at run time: worker
// threads import this, and a thread's start-up cost matters to the scheduler.
import type { SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const SAMPLED = 1;
const INVALID_TRACE_ID = '0'.repeat(32);
const INVALID_SPAN_ID = '0'.repeat(16);

/**
 * A W3C `traceparent` header value as a span context (remote), or `undefined` when it is absent or
 * malformed. Parsed here rather than through a propagator so that it works, and costs nothing,
 * when no OpenTelemetry SDK is installed: log lines still carry the publisher's trace.
 */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & SAMPLED, isRemote: true };
}

export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & SAMPLED).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * The fields that tie a log line to its trace in Cloud Logging. `logging.googleapis.com/trace`
 * names the project, so it is written only when the project is known.
 */
export function traceLogFields(
  spanContext: SpanContext | undefined,
  projectId: string | undefined,
): Record<string, string | boolean> | undefined {
  if (!spanContext) return undefined;
  return {
    ...(projectId && {
      'logging.googleapis.com/trace': `projects/${projectId}/traces/${spanContext.traceId}`,
    }),
    'logging.googleapis.com/spanId': spanContext.spanId,
    'logging.googleapis.com/trace_sampled': (spanContext.traceFlags & SAMPLED) === SAMPLED,
  };
}
