import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type SpanContext,
} from '@opentelemetry/api';
import { TraceState, hrTimeToMilliseconds } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  RandomIdGenerator,
  SamplingDecision,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';

import { readable } from '../../src/telemetry/readable-span.js';
import { RecordingTracer } from '../../src/telemetry/recording-tracer.js';
import type { SpanRecord } from '../../src/telemetry/span-record.js';

function tracer(sampler: Sampler = new AlwaysOnSampler()) {
  const ended: SpanRecord[] = [];
  return { tracer: new RecordingTracer(sampler, new RandomIdGenerator(), (span) => ended.push(span)), ended };
}

const remote: SpanContext = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
};

describe('the main thread’s recording tracer', () => {
  it('records a root span, then a child and a grandchild, as the SDK would name them', () => {
    const { tracer: t, ended } = tracer();
    const root = t.startSpan('underwriting.created process', {
      kind: SpanKind.CONSUMER,
      attributes: { 'messaging.system': 'gcp_pubsub', dropped: undefined },
    });
    const child = t.startSpan('processor fx_a', {}, trace.setSpan(ROOT_CONTEXT, root));
    const grandchild = t.startSpan('GET', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, child));
    grandchild.end();
    child.end();
    root.end();

    expect(ended.map((s) => s.name)).toEqual(['GET', 'processor fx_a', 'underwriting.created process']);
    const [g, c, r] = ended as [SpanRecord, SpanRecord, SpanRecord];
    expect(r.parentSpanId).toBeUndefined();
    expect(r.kind).toBe(SpanKind.CONSUMER);
    expect(r.attributes).toEqual({ 'messaging.system': 'gcp_pubsub' });
    expect(c).toMatchObject({ traceId: r.traceId, parentSpanId: r.spanId, kind: SpanKind.INTERNAL });
    expect(g).toMatchObject({ traceId: r.traceId, parentSpanId: c.spanId, kind: SpanKind.CLIENT });
    expect(root.spanContext()).toEqual({
      traceId: r.traceId,
      spanId: r.spanId,
      traceFlags: TraceFlags.SAMPLED,
    });
    expect(r.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(r.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(r.endMs).toBeGreaterThanOrEqual(r.startMs);
    expect(Math.abs(r.startMs - Date.now())).toBeLessThan(5_000);
  });

  it('continues a received trace: the parent is remote, and its tracestate is carried on', () => {
    const { tracer: t, ended } = tracer();
    const withState = { ...remote, traceState: new TraceState('vendor=1') };
    const span = t.startSpan('process', {}, trace.setSpanContext(ROOT_CONTEXT, withState));
    span.end();
    expect(ended[0]).toMatchObject({
      traceId: remote.traceId,
      parentSpanId: remote.spanId,
      parentIsRemote: true,
      traceState: 'vendor=1',
    });
    expect(span.spanContext().traceState?.serialize()).toBe('vendor=1');
  });

  it('starts a new trace under an invalid parent, or when asked for a root', () => {
    const { tracer: t, ended } = tracer();
    const invalid = { ...remote, traceId: '00000000000000000000000000000000' };
    t.startSpan('a', {}, trace.setSpanContext(ROOT_CONTEXT, invalid)).end();
    t.startSpan('b', { root: true }, trace.setSpanContext(ROOT_CONTEXT, remote)).end();
    for (const span of ended) {
      expect(span.parentSpanId).toBeUndefined();
      expect(span.traceId).not.toBe(remote.traceId);
    }
  });

  it('records nothing the sampler drops, yet carries the context on for headers and log lines', () => {
    const { tracer: t, ended } = tracer(new ParentBasedSampler({ root: new AlwaysOffSampler() }));
    const dropped = t.startSpan('dropped');
    expect(dropped.isRecording()).toBe(false);
    expect(dropped.spanContext().traceFlags).toBe(TraceFlags.NONE);
    expect(dropped.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    dropped.end();
    // The publisher sampled this trace: a parent-based sampler follows it.
    const followed = t.startSpan('followed', {}, trace.setSpanContext(ROOT_CONTEXT, remote));
    followed.end();
    expect(ended.map((s) => s.name)).toEqual(['followed']);
  });

  it('records a span sampled as RECORD only, but never hands it over to be exported', () => {
    const recordOnly: Sampler = { shouldSample: () => ({ decision: SamplingDecision.RECORD }) };
    const { tracer: t, ended } = tracer(recordOnly);
    const span = t.startSpan('recorded');
    expect(span.isRecording()).toBe(true);
    expect(span.spanContext().traceFlags).toBe(TraceFlags.NONE);
    span.end();
    expect(ended).toEqual([]);
  });

  it('keeps the SDK’s rules: OK is final, UNSET changes nothing, nothing changes after end', () => {
    const { tracer: t, ended } = tracer();
    const tags = ['a'];
    const failed = t.startSpan('failed', { attributes: { tags } });
    tags.push('changed after');
    failed.setStatus({ code: SpanStatusCode.UNSET });
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    failed.setAttributes({ 'error.type': 'Error', invalid: { nested: true } as never, '': 'no key' });
    failed.end();
    failed.setAttribute('late', 1);
    failed.updateName('renamed late');
    failed.end();
    const ok = t.startSpan('ok');
    ok.setStatus({ code: SpanStatusCode.OK });
    ok.setStatus({ code: SpanStatusCode.ERROR, message: 'too late' });
    ok.updateName('ok, renamed');
    ok.end();

    expect(ended).toHaveLength(2);
    expect(ended[0]).toMatchObject({
      name: 'failed',
      status: { code: SpanStatusCode.ERROR, message: 'boom' },
      attributes: { tags: ['a'], 'error.type': 'Error' },
    });
    expect(ended[0]?.attributes).not.toHaveProperty('late');
    expect(ended[1]).toMatchObject({ name: 'ok, renamed', status: { code: SpanStatusCode.OK } });
  });

  it('records events, exceptions and links, with the times given', () => {
    const { tracer: t, ended } = tracer();
    const span = t.startSpan('with events', { links: [{ context: remote, attributes: { why: 'batch' } }] });
    span.addEvent('processor.circuit.open', { 'processor.id': 'fx_a' });
    span.addEvent('at a time', new Date(1_700_000_000_000));
    span.recordException(Object.assign(new Error('no route'), { code: 'ECONNREFUSED' }));
    span.end(new Date(1_800_000_000_000));

    const [record] = ended as [SpanRecord];
    expect(record.events?.map((e) => e.name)).toEqual(['processor.circuit.open', 'at a time', 'exception']);
    expect(record.events?.[0]?.attributes).toEqual({ 'processor.id': 'fx_a' });
    expect(record.events?.[1]?.timeMs).toBe(1_700_000_000_000);
    expect(record.events?.[2]?.attributes).toMatchObject({
      'exception.type': 'ECONNREFUSED',
      'exception.message': 'no route',
    });
    expect(record.links).toEqual([
      {
        traceId: remote.traceId,
        spanId: remote.spanId,
        traceFlags: remote.traceFlags,
        attributes: { why: 'batch' },
      },
    ]);
    expect(record.endMs).toBe(1_800_000_000_000);
  });

  it('runs startActiveSpan’s function with the span, and returns what it returns', () => {
    const { tracer: t, ended } = tracer();
    const result = t.startActiveSpan('active', { attributes: { a: 1 } }, (span) => {
      span.end();
      return 42;
    });
    expect(result).toBe(42);
    expect(ended[0]).toMatchObject({ name: 'active', attributes: { a: 1 } });
  });
});

describe('a span record, as the exporters read it', () => {
  const resource = resourceFromAttributes({ 'service.name': 'processor-orchestrator' });
  const scope = { name: 'processor-orchestrator', version: '1.2.3' };

  it('keeps every field: times, parent, status, events, links, tracestate', () => {
    const record: SpanRecord = {
      traceId: remote.traceId,
      spanId: '00f067aa0ba902b7',
      parentSpanId: remote.spanId,
      parentIsRemote: true,
      traceFlags: TraceFlags.SAMPLED,
      traceState: 'vendor=1',
      name: 'processor fx_a',
      kind: SpanKind.INTERNAL,
      startMs: 1_700_000_000_000.5,
      endMs: 1_700_000_001_250.25,
      attributes: { 'processor.id': 'fx_a' },
      status: { code: SpanStatusCode.ERROR, message: 'timeout' },
      events: [{ name: 'e', timeMs: 1_700_000_000_100, attributes: { k: 'v' } }],
      links: [{ traceId: remote.traceId, spanId: remote.spanId, traceFlags: 1 }],
    };
    const span = readable(record, resource, scope);
    expect(span.spanContext()).toMatchObject({
      traceId: record.traceId,
      spanId: record.spanId,
      traceFlags: 1,
    });
    expect(span.spanContext().traceState?.serialize()).toBe('vendor=1');
    expect(span.parentSpanContext).toEqual({
      traceId: record.traceId,
      spanId: remote.spanId,
      traceFlags: 1,
      isRemote: true,
    });
    expect(hrTimeToMilliseconds(span.startTime)).toBeCloseTo(record.startMs, 3);
    expect(hrTimeToMilliseconds(span.duration)).toBeCloseTo(1_249.75, 3);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'timeout' });
    expect(span.events).toEqual([{ name: 'e', time: [1_700_000_000, 100_000_000], attributes: { k: 'v' } }]);
    expect(span.links).toEqual([
      { context: { traceId: remote.traceId, spanId: remote.spanId, traceFlags: 1 }, attributes: {} },
    ]);
    expect(span).toMatchObject({
      resource,
      instrumentationScope: scope,
      ended: true,
      droppedAttributesCount: 0,
    });
  });

  it('has no parent as a root, an unset status, and never ends before it starts', () => {
    const span = readable(
      {
        traceId: remote.traceId,
        spanId: remote.spanId,
        traceFlags: 1,
        name: 'root',
        kind: 0,
        startMs: 10,
        endMs: 5,
        attributes: {},
      },
      resource,
      scope,
    );
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.status).toEqual({ code: SpanStatusCode.UNSET });
    expect(span.duration).toEqual([0, 0]);
  });
});
