import { SpanStatusCode } from '@opentelemetry/api';
import { TraceState, hrTimeDuration, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

import type { SpanRecord } from './span-record.js';

/** A span record as the SDK's exporters read a finished span. */
export function readable(
  span: SpanRecord,
  resource: Resource,
  scope: ReadableSpan['instrumentationScope'],
): ReadableSpan {
  const startTime = millisToHrTime(span.startMs);
  const endTime = millisToHrTime(Math.max(span.startMs, span.endMs));
  const { traceId, traceFlags } = span;
  const traceState = span.traceState === undefined ? undefined : new TraceState(span.traceState);
  const spanContext = { traceId, spanId: span.spanId, traceFlags, ...(traceState && { traceState }) };
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => spanContext,
    parentSpanContext:
      span.parentSpanId === undefined
        ? undefined
        : { traceId, spanId: span.parentSpanId, traceFlags, isRemote: span.parentIsRemote === true },
    startTime,
    endTime,
    status:
      span.status === undefined
        ? { code: SpanStatusCode.UNSET }
        : {
            code: span.status.code,
            ...(span.status.message !== undefined && { message: span.status.message }),
          },
    attributes: span.attributes,
    links: (span.links ?? []).map((link) => ({
      context: { traceId: link.traceId, spanId: link.spanId, traceFlags: link.traceFlags },
      attributes: link.attributes ?? {},
    })),
    events: (span.events ?? []).map((event) => ({
      name: event.name,
      time: millisToHrTime(event.timeMs),
      attributes: event.attributes ?? {},
    })),
    duration: hrTimeDuration(startTime, endTime),
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
