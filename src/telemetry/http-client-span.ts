import { SpanKind, SpanStatusCode, type Context, type Tracer } from '@opentelemetry/api';

import { httpFailure, httpRequestAttributes } from './http-attributes.js';
import { spanTraceparent } from './trace-context.js';

export interface HttpClientSpan {
  /** The `traceparent` header naming the span, to send with the request; none without a trace. */
  readonly headers: Record<string, string>;
  /** Ends the span with the response's status, or with the error that left it unanswered. */
  end(outcome: { status: number } | { error: unknown }): void;
}

/**
 * A client span for one HTTP request the main thread makes, child of `parent`, passed explicitly:
 * the service installs no context manager (an AsyncLocalStorage in Node 20 slows every promise of
 * the process). The header carries the context on also when nothing is recorded, so that the
 * service called joins the received trace.
 */
export function startHttpClientSpan(
  tracer: Tracer,
  method: string,
  url: URL,
  parent: Context | undefined,
): HttpClientSpan {
  const span = tracer.startSpan(
    method,
    { kind: SpanKind.CLIENT, attributes: httpRequestAttributes(method, url) },
    parent,
  );
  const traceparent = spanTraceparent(span);
  return {
    headers: traceparent === undefined ? {} : { traceparent },
    end(outcome) {
      if ('status' in outcome) {
        span.setAttribute('http.response.status_code', outcome.status);
        if (outcome.status >= 400)
          span.setStatus({ code: SpanStatusCode.ERROR, message: String(outcome.status) });
      } else {
        const failure = httpFailure(outcome.error);
        span.setAttribute('error.type', failure.type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
      }
      span.end();
    },
  };
}
