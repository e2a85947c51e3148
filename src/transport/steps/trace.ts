import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

import { OrchestratorError, errorType } from '../../errors.js';
import type { Logger } from '../../logging.js';
import { logBindings, type Telemetry } from '../../telemetry/telemetry.js';
import { validSpanContext } from '../../telemetry/trace-context.js';
import type { InboundMessage, Verdict } from '../message.js';
import type { Delivery, Next } from './delivery.js';

export interface TracingDeps {
  log: Logger;
  telemetry: Pick<Telemetry, 'tracer' | 'metrics' | 'projectId'>;
}

/**
 * The outermost step. Each message is handled under one span, `underwriting.created process`,
 * child of the context the publisher sent (`message.trace`); the log lines below name that span.
 * Whatever the steps below throw becomes `nack`, logged once: a WARNING when a retry can fix it,
 * an ERROR with the stack when it was not expected. The process duration is recorded either way.
 */
export function tracing({ log, telemetry }: TracingDeps) {
  const { tracer, metrics } = telemetry;
  return (next: Next<[Delivery]>) =>
    async (message: InboundMessage): Promise<Verdict> => {
      const span = tracer.startSpan(
        'underwriting.created process',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'gcp_pubsub',
            'messaging.operation.type': 'process',
            'messaging.message.id': message.id,
            transport: message.transport,
            ...(message.deliveryAttempt !== undefined && {
              'messaging.gcp_pubsub.message.delivery_attempt': message.deliveryAttempt,
            }),
          },
        },
        message.trace,
      );
      const ctx = trace.setSpan(message.trace ?? ROOT_CONTEXT, span);
      // Made when first written to: most events write nothing through it.
      let spanLog: Logger | undefined;
      const delivery: Delivery = {
        message,
        ctx,
        get log() {
          return (spanLog ??= validSpanContext(ctx) ? log.child(logBindings(telemetry, ctx)) : log);
        },
      };
      let failure: string | undefined;
      try {
        const verdict = await next(delivery);
        span.setAttribute('messaging.gcp_pubsub.result', verdict);
        return verdict;
      } catch (err) {
        failure = errorType(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
        span.setAttributes({ 'messaging.gcp_pubsub.result': 'nack', 'error.type': failure });
        logRetry(delivery.log, message, err);
        return 'nack';
      } finally {
        span.end();
        metrics.processDuration.record((performance.now() - message.receivedAt) / 1000, {
          'messaging.system': 'gcp_pubsub',
          'messaging.operation.name': 'process',
          transport: message.transport,
          ...(failure !== undefined && { 'error.type': failure }),
        });
      }
    };
}

function logRetry(log: Logger, message: InboundMessage, err: unknown): void {
  const fields = {
    source_message_id: message.id,
    transport: message.transport,
    delivery_attempt: message.deliveryAttempt ?? null,
    verdict: 'nack',
  };
  if (err instanceof OrchestratorError && err.retryable) {
    log.warn({ ...fields, code: err.code, error_message: err.message }, 'event will be retried');
  } else {
    log.error({ ...fields, err }, 'event failed unexpectedly; it will be retried');
  }
}
