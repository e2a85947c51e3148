import { z } from 'zod';

import { httpUrl, integer, oneOf, oneOfAnyCase, optional, withDefault } from './fields.js';

export const TELEMETRY_DEFAULTS = {
  OTEL_SERVICE_NAME: 'processor-orchestrator',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  /** The OpenTelemetry default: metrics are exported every minute. */
  OTEL_METRIC_EXPORT_INTERVAL: 60_000,
} as const;

const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

/** Where one OpenTelemetry signal is exported: its full OTLP/HTTP URL and the encoding. */
export interface OtlpTarget {
  url: string;
  protocol: OtlpProtocol;
}

const otlpProtocol = optional(
  z.enum(OTLP_PROTOCOLS, {
    error: `must be ${OTLP_PROTOCOLS.join(' or ')} (grpc is not supported: use http/protobuf)`,
  }),
);
const otlpEndpoint = optional(httpUrl);

export const telemetryVariables = {
  OTEL_SDK_DISABLED: withDefault('false', oneOfAnyCase(['true', 'false'], 'must be true or false')),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: otlpProtocol,
  OTEL_SERVICE_NAME: withDefault(TELEMETRY_DEFAULTS.OTEL_SERVICE_NAME, z.string()),
  OTEL_TRACES_SAMPLER: withDefault(TELEMETRY_DEFAULTS.OTEL_TRACES_SAMPLER, oneOf(TRACE_SAMPLERS)),
  OTEL_TRACES_SAMPLER_ARG: optional(
    z
      .string()
      .transform(Number)
      .pipe(z.number({ error: 'must be a number from 0 to 1' }).min(0).max(1)),
  ),
  OTEL_METRIC_EXPORT_INTERVAL: integer(100, 3_600_000, TELEMETRY_DEFAULTS.OTEL_METRIC_EXPORT_INTERVAL),
};

/**
 * The standard OTLP resolution: a signal's own endpoint as it is, else the general endpoint with
 * `/v1/{signal}` appended; the signal's own protocol, else the general one, else http/protobuf.
 */
function otlpTarget(
  signal: 'traces' | 'metrics',
  general: string | undefined,
  own: string | undefined,
  protocol: OtlpProtocol | undefined,
): OtlpTarget | undefined {
  const url = own ?? (general === undefined ? undefined : `${general}/v1/${signal}`);
  return url === undefined
    ? undefined
    : { url, protocol: protocol ?? TELEMETRY_DEFAULTS.OTEL_EXPORTER_OTLP_PROTOCOL };
}

/**
 * OpenTelemetry (docs/telemetry.md): where traces and metrics are exported over OTLP/HTTP;
 * `undefined` when no endpoint is set (or OTEL_SDK_DISABLED=true): nothing is recorded.
 */
export const telemetrySection = z.object(telemetryVariables).transform((e) => {
  const on = e.OTEL_SDK_DISABLED !== 'true';
  const general = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  const traces = otlpTarget(
    'traces',
    general,
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL,
  );
  const metrics = otlpTarget(
    'metrics',
    general,
    e.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    e.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL,
  );
  return {
    telemetry: {
      traces: on ? traces : undefined,
      metrics: on && metrics ? { ...metrics, intervalMs: e.OTEL_METRIC_EXPORT_INTERVAL } : undefined,
      serviceName: e.OTEL_SERVICE_NAME,
      sampler: e.OTEL_TRACES_SAMPLER,
      /** The ratio of the `traceidratio` samplers (default 1). */
      samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
    },
  };
});

export type TelemetryConfig = z.output<typeof telemetrySection>;
