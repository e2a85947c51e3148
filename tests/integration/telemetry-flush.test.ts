import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import { observePool } from '../../src/telemetry/metrics.js';
import { startTelemetry } from '../../src/telemetry/sdk.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';

let receiver: OtlpReceiver;
beforeEach(async () => {
  receiver = await startOtlpReceiver();
});
afterEach(async () => {
  await receiver.close();
});

describe('telemetry exporting to an OTLP receiver', () => {
  it('exports every span and metric recorded, the worker threads’ spans too, even when shut down at once', async () => {
    // Nothing is exported on a schedule within this test (5 s, 60 s): only shutdown's flush.
    const config = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_METRIC_EXPORT_INTERVAL: '60000',
    }).telemetry;
    const telemetry = await startTelemetry(config, 'test-project');
    observePool(telemetry.meter, () => ({ threads: 3, busyThreads: 2, cpuSaturation: 0.5 }));

    // More spans than one export batch (512).
    const root = telemetry.tracer.startSpan('underwriting.created process');
    const parent = trace.setSpan(ROOT_CONTEXT, root);
    for (let i = 0; i < 600; i++) {
      telemetry.tracer
        .startSpan(`processor fx_${i}`, { attributes: { 'processor.id': `fx_${i}` } }, parent)
        .end();
      telemetry.metrics.runDuration.record(0.5, { 'processor.id': 'fx_a', 'processor.status': 'completed' });
    }
    const { traceId, spanId } = root.spanContext();
    const now = Date.now();
    telemetry.adopt([
      {
        traceId,
        spanId: '00f067aa0ba902b7',
        parentSpanId: spanId,
        traceFlags: 1,
        name: 'GET',
        kind: 3,
        startMs: now,
        endMs: now,
        attributes: {},
      },
    ]);
    telemetry.metrics.processed.add(1, { overall_status: 'success', transport: 'push' });
    root.end();
    await telemetry.shutdown();

    expect(receiver.spans).toHaveLength(602);
    const byName = new Map(receiver.spans.map((s) => [s.name, s]));
    expect(byName.get('processor fx_599')).toMatchObject({
      traceId,
      parentSpanId: spanId,
      scope: 'processor-orchestrator',
      service: 'processor-orchestrator',
      attributes: { 'processor.id': 'fx_599' },
    });
    expect(byName.get('underwriting.created process')?.parentSpanId).toBe('');
    expect(byName.get('GET')).toMatchObject({
      parentSpanId: spanId,
      scope: 'processor-orchestrator/worker-thread',
    });
    const point = (metric: string) => receiver.points.find((p) => p.metric === metric);
    expect(point('processor.run.duration')).toMatchObject({ type: 'histogram', unit: 's', value: 600 });
    expect(point('underwriting.processed')).toMatchObject({ type: 'sum', value: 1 });
    expect(point('pool.threads')).toMatchObject({ type: 'gauge', value: 3 });
  });
});
