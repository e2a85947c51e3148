import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

/** One span as received, whichever encoding carried it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, unknown>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  scope: string;
  service: string;
}

/** One data point of a metric as received. */
export interface ReceivedPoint {
  metric: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram';
  attributes: Record<string, unknown>;
  /** The value (gauge, sum) or the count (histogram). */
  value: number;
}

/**
 * An OTLP/HTTP receiver on loopback: `POST /v1/traces` and `/v1/metrics`, in protobuf
 * (`application/x-protobuf`) or JSON (`application/json`), decoded with the protocol's message
 * definitions (otlp.proto beside this file). It answers as a collector does: 200 with an empty
 * response of the request's encoding.
 */
export interface OtlpReceiver {
  /** Base URL, the value of OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  points: ReceivedPoint[];
  /** Content types of the requests received, by path. */
  contentTypes: Map<string, Set<string>>;
  /** Resolves once `check` holds of what was received (checked on each request); rejects after `timeoutMs`. */
  waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

const root = protobuf.loadSync(fileURLToPath(new URL('./otlp.proto', import.meta.url)));
const TraceRequest = root.lookupType('otlp.ExportTraceServiceRequest');
const MetricsRequest = root.lookupType('otlp.ExportMetricsServiceRequest');

type Json = Record<string, unknown>;
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** protobuf objects (bytes as base64) and OTLP/JSON (ids in hex) to the same shape. */
function hexId(value: unknown, json: boolean): string {
  if (typeof value !== 'string' || value === '') return '';
  return json ? value.toLowerCase() : Buffer.from(value, 'base64').toString('hex');
}

function anyValue(value: Json | undefined): unknown {
  if (!value) return undefined;
  for (const key of ['stringValue', 'boolValue', 'doubleValue']) if (key in value) return value[key];
  if ('intValue' in value) return Number(value['intValue']);
  if ('arrayValue' in value) return list((value['arrayValue'] as Json)['values']).map(anyValue);
  return undefined;
}

function attributes(values: unknown): Record<string, unknown> {
  return Object.fromEntries(list(values).map((kv) => [kv['key'] as string, anyValue(kv['value'] as Json)]));
}

function decode(path: string, contentType: string, body: Buffer): Json {
  const json = contentType.includes('json');
  if (json) return JSON.parse(body.toString('utf8')) as Json;
  const type = path === '/v1/traces' ? TraceRequest : MetricsRequest;
  return type.toObject(type.decode(body), { longs: String, bytes: String, defaults: false });
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const points: ReceivedPoint[] = [];
  const contentTypes = new Map<string, Set<string>>();
  const waiters = new Set<() => void>();

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      const contentType = request.headers['content-type'] ?? '';
      if (request.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics')) {
        response.writeHead(404).end();
        return;
      }
      let message: Json;
      try {
        message = decode(path, contentType, Buffer.concat(chunks));
      } catch (err) {
        response.writeHead(400).end(String(err));
        return;
      }
      if (!contentTypes.has(path)) contentTypes.set(path, new Set());
      contentTypes.get(path)?.add(contentType);
      const json = contentType.includes('json');
      if (path === '/v1/traces') {
        for (const rs of list(message['resourceSpans'])) {
          const service = String(
            attributes((rs['resource'] as Json | undefined)?.['attributes'])['service.name'],
          );
          for (const ss of list(rs['scopeSpans'])) {
            const scope = text((ss['scope'] as Json | undefined)?.['name']);
            for (const s of list(ss['spans'])) {
              spans.push({
                traceId: hexId(s['traceId'], json),
                spanId: hexId(s['spanId'], json),
                parentSpanId: hexId(s['parentSpanId'], json),
                name: String(s['name']),
                kind: Number(s['kind'] ?? 0),
                attributes: attributes(s['attributes']),
                statusCode: Number((s['status'] as Json | undefined)?.['code'] ?? 0),
                scope,
                service,
              });
            }
          }
        }
      } else {
        for (const rm of list(message['resourceMetrics'])) {
          for (const sm of list(rm['scopeMetrics'])) {
            for (const m of list(sm['metrics'])) {
              for (const type of ['gauge', 'sum', 'histogram'] as const) {
                const data = m[type] as Json | undefined;
                if (!data) continue;
                for (const p of list(data['dataPoints'])) {
                  const value = type === 'histogram' ? p['count'] : (p['asDouble'] ?? p['asInt']);
                  points.push({
                    metric: String(m['name']),
                    unit: text(m['unit']),
                    type,
                    attributes: attributes(p['attributes']),
                    value: Number(value ?? 0),
                  });
                }
              }
            }
          }
        }
      }
      // An empty Export*ServiceResponse: no partial success.
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      response.end(json ? '{}' : Buffer.alloc(0));
      waiters.forEach((wake) => wake());
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    points,
    contentTypes,
    waitFor(check, what, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const attempt = () => {
          const result = check();
          if (result !== undefined && result !== false) finish(() => resolve(result));
        };
        const timer = setTimeout(() => {
          const names = [...new Set(spans.map((s) => s.name))].join(', ');
          const metrics = [...new Set(points.map((p) => p.metric))].join(', ');
          finish(() =>
            reject(
              new Error(
                `the receiver never got ${what}; spans: ${names || 'none'}; metrics: ${metrics || 'none'}`,
              ),
            ),
          );
        }, timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(attempt);
          settle();
        };
        waiters.add(attempt);
        attempt();
      });
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
