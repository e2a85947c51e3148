// The main thread's tracer: spans recorded as plain data (`SpanRecord`), the way worker threads
// record theirs, and handed to the SDK's span processor when they end (`sdk.ts`). Loaded with the
// SDK, only when traces are exported.
//
// Why not the SDK's own tracer: at 100 % sampling an event makes six spans, on the main thread,
// which bounds an instance's throughput. The SDK's span is built for every feature the API allows
// (limits, per-span clock offsets, processors called at start, its own metrics); here a span is
// its record and a small object around it (docs/telemetry.md has what each costs).
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context as api,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
} from '@opentelemetry/api';
import {
  hrTimeToMilliseconds,
  isAttributeValue,
  isTracingSuppressed,
  timeInputToHrTime,
} from '@opentelemetry/core';
import { SamplingDecision, type IdGenerator, type Sampler } from '@opentelemetry/sdk-trace-base';

import type { SpanAttributes, SpanRecord } from './span-record.js';

/** Where a sampled span's record goes when it ends. */
export type SpanSink = (span: SpanRecord) => void;

export class RecordingTracer implements Tracer {
  readonly #sampler: Sampler;
  readonly #ids: IdGenerator;
  readonly #sink: SpanSink;

  constructor(sampler: Sampler, ids: IdGenerator, sink: SpanSink) {
    this.#sampler = sampler;
    this.#ids = ids;
    this.#sink = sink;
  }

  /**
   * As the SDK's tracer: a child of the span `ctx` holds (a new trace without one, or with
   * `root`), sampled by the configured sampler. A span the sampler drops records nothing but still
   * carries its context on, for `traceparent` headers and log lines.
   */
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = api.active()): Span {
    if (isTracingSuppressed(ctx)) return trace.wrapSpanContext({ ...INVALID });
    const found = options.root ? undefined : trace.getSpanContext(ctx);
    const parent = found && isSpanContextValid(found) ? found : undefined;
    const traceId = parent?.traceId ?? this.#ids.generateTraceId();
    const spanId = this.#ids.generateSpanId();
    const kind = options.kind ?? SpanKind.INTERNAL;
    const attributes = valid(options.attributes);
    const links = options.links ?? [];
    const sampling = this.#sampler.shouldSample(ctx, traceId, name, kind, attributes, links);
    const traceState = sampling.traceState ?? parent?.traceState;
    const sampled = sampling.decision === SamplingDecision.RECORD_AND_SAMPLED;
    const spanContext: SpanContext = {
      traceId,
      spanId,
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      ...(traceState && { traceState }),
    };
    if (sampling.decision === SamplingDecision.NOT_RECORD) return trace.wrapSpanContext(spanContext);
    const record: SpanRecord = {
      traceId,
      spanId,
      traceFlags: spanContext.traceFlags,
      name,
      kind,
      startMs: options.startTime === undefined ? now() : epochMs(options.startTime),
      endMs: 0,
      attributes: sampling.attributes ? { ...attributes, ...valid(sampling.attributes) } : attributes,
    };
    if (parent) {
      record.parentSpanId = parent.spanId;
      if (parent.isRemote) record.parentIsRemote = true;
    }
    if (traceState) record.traceState = traceState.serialize();
    const span = new RecordingSpan(spanContext, record, sampled ? this.#sink : undefined);
    if (links.length > 0) span.addLinks(links);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    ctx: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    ...args: [F] | [SpanOptions, F] | [SpanOptions, Context, F]
  ): ReturnType<F> {
    const fn = args[args.length - 1] as F;
    const options = args.length > 1 ? (args[0] as SpanOptions) : undefined;
    const parent = args.length > 2 ? (args[1] as Context) : api.active();
    const span = this.startSpan(name, options, parent);
    return api.with(trace.setSpan(parent, span), () => fn(span) as ReturnType<F>);
  }
}

/** A span being recorded: its record, filled in until it ends, then handed to the sink if sampled. */
class RecordingSpan implements Span {
  readonly #context: SpanContext;
  readonly #record: SpanRecord;
  readonly #sink: SpanSink | undefined;
  #ended = false;

  constructor(spanContext: SpanContext, record: SpanRecord, sink: SpanSink | undefined) {
    this.#context = spanContext;
    this.#record = record;
    this.#sink = sink;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  setAttribute(key: string, value: unknown): this {
    if (!this.#ended) put(this.#record.attributes, key, value);
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key in attributes) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.#ended) return this;
    const timeGiven = isTime(attributesOrTime) ? attributesOrTime : time;
    const attributes = isTime(attributesOrTime) ? undefined : valid(attributesOrTime);
    (this.#record.events ??= []).push({
      name,
      timeMs: timeGiven === undefined ? now() : epochMs(timeGiven),
      ...(attributes && Object.keys(attributes).length > 0 && { attributes }),
    });
    return this;
  }

  addLink(link: Link): this {
    if (this.#ended) return this;
    const { traceId, spanId, traceFlags } = link.context;
    const attributes = valid(link.attributes);
    (this.#record.links ??= []).push({
      traceId,
      spanId,
      traceFlags,
      ...(Object.keys(attributes).length > 0 && { attributes }),
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  /** As the SDK: UNSET changes nothing, and OK is final. */
  setStatus(status: SpanStatus): this {
    const current = this.#record.status;
    if (this.#ended || status.code === SpanStatusCode.UNSET || current?.code === SpanStatusCode.OK)
      return this;
    this.#record.status =
      status.code === SpanStatusCode.ERROR && status.message !== undefined
        ? { code: status.code, message: status.message }
        : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.#ended) this.#record.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.#ended) return;
    this.#ended = true;
    const record = this.#record;
    record.endMs = Math.max(record.startMs, endTime === undefined ? now() : epochMs(endTime));
    this.#sink?.(record);
  }

  isRecording(): boolean {
    return !this.#ended;
  }

  /** An `exception` event with OpenTelemetry's attributes, as the SDK records one. */
  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else {
      const type = exception.code ?? exception.name;
      if (type !== undefined) attributes['exception.type'] = String(type);
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    if ('exception.type' in attributes || 'exception.message' in attributes)
      this.addEvent('exception', attributes, time);
  }
}

const INVALID: SpanContext = {
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: TraceFlags.NONE,
};

function now(): number {
  return performance.timeOrigin + performance.now();
}

function epochMs(time: TimeInput): number {
  return hrTimeToMilliseconds(timeInputToHrTime(time));
}

function isTime(value: Attributes | TimeInput | undefined): value is TimeInput {
  return typeof value === 'number' || value instanceof Date || Array.isArray(value);
}

/** The attributes OpenTelemetry allows, copied (`put`). */
function valid(attributes: Attributes | undefined): SpanAttributes {
  const out: SpanAttributes = {};
  for (const key in attributes) put(out, key, attributes[key]);
  return out;
}

/**
 * Sets an attribute OpenTelemetry allows (a key, and a primitive or an array of one type); an
 * array is copied, as the SDK does, since the caller may change it afterwards.
 */
function put(into: SpanAttributes, key: string, value: unknown): void {
  if (key.length > 0 && isAttributeValue(value)) into[key] = Array.isArray(value) ? value.slice() : value;
}
