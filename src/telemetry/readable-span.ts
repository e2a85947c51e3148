import {
  SpanStatusCode,
  type Link,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
} from '@opentelemetry/api';
import { TraceState, hrTimeDuration, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

import type { SpanAttributes, SpanRecord } from './span-record.js';

/** A span record as the SDK's exporters read a finished span. */
export function readable(
  span: SpanRecord,
  resource: Resource,
  scope: ReadableSpan['instrumentationScope'],
): ReadableSpan {
  return new FinishedSpan(span, resource, scope);
}

/** Shared by every span without a status, a link or an event: nothing reads them to change them. */
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NONE = Object.freeze([]) as unknown as never[];

/**
 * One object of one shape for every span (the batch holds hundreds until it is exported), made
 * without spreads or closures: an event makes six, on the main thread.
 */
class FinishedSpan implements ReadableSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: [number, number];
  readonly endTime: [number, number];
  readonly duration: [number, number];
  readonly status: SpanStatus;
  readonly attributes: SpanAttributes;
  readonly links: Link[];
  readonly events: TimedEvent[];
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly #context: SpanContext;

  constructor(
    span: SpanRecord,
    readonly resource: Resource,
    readonly instrumentationScope: ReadableSpan['instrumentationScope'],
  ) {
    const { traceId, traceFlags } = span;
    this.#context =
      span.traceState === undefined
        ? { traceId, spanId: span.spanId, traceFlags }
        : { traceId, spanId: span.spanId, traceFlags, traceState: new TraceState(span.traceState) };
    this.name = span.name;
    this.kind = span.kind;
    this.parentSpanContext =
      span.parentSpanId === undefined
        ? undefined
        : { traceId, spanId: span.parentSpanId, traceFlags, isRemote: span.parentIsRemote === true };
    this.startTime = millisToHrTime(span.startMs);
    this.endTime = millisToHrTime(Math.max(span.startMs, span.endMs));
    this.duration = hrTimeDuration(this.startTime, this.endTime);
    this.status = span.status === undefined ? UNSET : statusOf(span.status);
    this.attributes = span.attributes;
    this.links = span.links === undefined ? NONE : span.links.map(linkOf);
    this.events = span.events === undefined ? NONE : span.events.map(eventOf);
  }

  spanContext(): SpanContext {
    return this.#context;
  }
}

function statusOf(status: NonNullable<SpanRecord['status']>): SpanStatus {
  return status.message === undefined
    ? { code: status.code }
    : { code: status.code, message: status.message };
}

function linkOf(link: NonNullable<SpanRecord['links']>[number]): Link {
  return {
    context: { traceId: link.traceId, spanId: link.spanId, traceFlags: link.traceFlags },
    attributes: link.attributes ?? {},
  };
}

function eventOf(event: NonNullable<SpanRecord['events']>[number]): TimedEvent {
  return { name: event.name, time: millisToHrTime(event.timeMs), attributes: event.attributes ?? {} };
}
