// A span recorded inside a worker thread, as plain data: it crosses the thread boundary with the
// run's result, and the main thread exports it with its own spans (see `docs/telemetry.md`).

/** One finished span of a worker thread (epoch milliseconds; OpenTelemetry's SpanKind number). */
export interface ThreadSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceFlags: number;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean>;
  /** Set when the operation failed: the span's status is ERROR with this message. */
  error?: string;
}
