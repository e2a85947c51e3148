import {
  ROOT_CONTEXT,
  TraceFlags,
  isSpanContextValid,
  trace,
  type Context,
  type SpanContext,
} from '@opentelemetry/api';

/** The message attribute Pub/Sub's client library carries W3C trace context in. */
export const PUBSUB_TRACE_ATTRIBUTE = 'googclient_traceparent';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A W3C `traceparent` header value as a span context (remote), or `undefined` when it is absent or
 * malformed. Parsed here rather than through a propagator so that it works, and costs nothing,
 * when no OpenTelemetry SDK is installed: log lines still carry the publisher's trace.
 */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!match) return undefined;
  const spanContext: SpanContext = {
    traceId: match[1] as string,
    spanId: match[2] as string,
    traceFlags: Number.parseInt(match[3] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** The trace context a Pub/Sub message carries, as a parent for the spans of its handling. */
export function contextFromAttributes(attributes: Readonly<Record<string, string>>): Context | undefined {
  const spanContext = parseTraceparent(attributes[PUBSUB_TRACE_ATTRIBUTE]);
  return spanContext && trace.setSpanContext(ROOT_CONTEXT, spanContext);
}

/** The span context a context holds, when it is a valid one. */
export function validSpanContext(ctx: Context | undefined): SpanContext | undefined {
  const spanContext = ctx && trace.getSpanContext(ctx);
  return spanContext && isSpanContextValid(spanContext) ? spanContext : undefined;
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
    'logging.googleapis.com/trace_sampled': (spanContext.traceFlags & 1) === 1,
  };
}
