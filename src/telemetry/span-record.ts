// A finished span as plain data. Every span of the service is recorded this way, on the main
// thread (`recording-tracer.ts`) and in the worker threads (`thread-recorder.ts`): worker threads
// hand theirs back with a run's result, and each becomes what the SDK's exporters read only once
// it has ended (`readable-span.ts`).

import type { AttributeValue } from '@opentelemetry/api';

/** Attributes as OpenTelemetry allows them (a primitive, or an array of one primitive type). */
export type SpanAttributes = Record<string, AttributeValue>;

/** One finished span (epoch milliseconds; OpenTelemetry's SpanKind and SpanStatusCode numbers). */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  /** Absent on a root span. */
  parentSpanId?: string;
  /** The parent's context came from another process (a received `traceparent`). */
  parentIsRemote?: boolean;
  traceFlags: number;
  /** The W3C `tracestate` carried, serialized. */
  traceState?: string;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: SpanAttributes;
  /** Unset unless the span's status was set: 1 OK, 2 ERROR with its message. */
  status?: { code: number; message?: string };
  events?: { name: string; timeMs: number; attributes?: SpanAttributes }[];
  links?: { traceId: string; spanId: string; traceFlags: number; attributes?: SpanAttributes }[];
}
