import {
  ROOT_CONTEXT,
  isSpanContextValid,
  trace,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

import { formatTraceparent, parseTraceparent } from './traceparent.js';

/** The message attribute Pub/Sub's client library carries W3C trace context in. */
export const PUBSUB_TRACE_ATTRIBUTE = 'googclient_traceparent';

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
 * The W3C `traceparent` naming a span, to carry it on (a header, a message attribute, a thread's
 * task); `undefined` when it has no valid context. A no-op span holds its parent's context, so with
 * nothing recorded this names the context received.
 */
export function spanTraceparent(span: Span): string | undefined {
  const spanContext = span.spanContext();
  return isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
}
