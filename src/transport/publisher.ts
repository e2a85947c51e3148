import type { Topic } from '@google-cloud/pubsub';
import { SpanKind, SpanStatusCode, type Context, type Tracer } from '@opentelemetry/api';

import { OrchestratorError, messageOf } from '../errors.js';
import { ProcessingCompletedSchema, type ProcessingCompleted } from '../events/processing-completed.js';
import type { Logger } from '../logging.js';
import { noTelemetry } from '../telemetry/telemetry.js';
import { PUBSUB_TRACE_ATTRIBUTE, spanTraceparent } from '../telemetry/trace-context.js';
import { GRPC, grpcCode, once, type PubSubClient } from './pubsub.js';

/**
 * Batching tuned for latency: the client's default holds each batch up to 10 ms. A batch is
 * sent on the next turn of the event loop instead, so what finishes in the same turn still
 * travels together under load.
 */
export const PUBLISH_BATCHING = { maxMessages: 100, maxMilliseconds: 0 } as const;

/**
 * The longest a publish may take, retries included (the deadline budget counts it). The
 * client's own default is the same 60 s, set here so that it is stated, not inherited.
 */
export const PUBLISH_TIMEOUT_MS = 60_000;

/** Options of every topic this service publishes to. */
export const PUBLISH_OPTIONS = {
  batching: PUBLISH_BATCHING,
  gaxOpts: { timeout: PUBLISH_TIMEOUT_MS },
} as const;

// While the topic is missing or unreachable, how often readiness checks it again.
const RECHECK_MS = 5_000;

export interface CompletedPublisher {
  /**
   * Validates `result` against the strict `processing.completed` schema and publishes it with
   * attributes `event_type`, `underwriting_id` and `source_message_id`. Resolves once Pub/Sub
   * has stored it; rejects with PUBLISH_FAILED (retryable) when it could not. The publish is a
   * span `<topic> create` (child of `trace`) whose context the message carries on
   * (`googclient_traceparent`), so that its consumers join the same trace; with nothing traced
   * here, the message carries `trace` as it was received.
   */
  publish(result: ProcessingCompleted, sourceMessageId: string, trace?: Context): Promise<string>;
  /**
   * Loads the client, connects to Pub/Sub and checks the topic; never rejects. A `publish`
   * called before (or while) it runs waits for the client.
   */
  warm(): Promise<void>;
  /** Why the publisher is not ready, or `undefined` when it is. */
  notReady(): string | undefined;
  /**
   * True until Pub/Sub has first answered (`warm` settled, or a publish did): the client is
   * loading or connecting, and nothing says yet that it cannot publish.
   */
  connecting(): boolean;
  close(): void;
}

export function createCompletedPublisher(
  pubsub: PubSubClient,
  topicName: string,
  log: Logger,
  tracer: Tracer = noTelemetry().tracer,
): CompletedPublisher {
  // Its full name (projects/…/topics/…) once the client has made it.
  let name = topicName;
  const topic = once(async (): Promise<Topic> => {
    const made = (await pubsub()).topic(topicName, PUBLISH_OPTIONS);
    name = made.name;
    return made;
  });
  // The topic's id, as the client library names its own publish spans.
  const topicId = topicName.split('/').pop() ?? topicName;
  let problem: string | undefined = 'not connected to Pub/Sub yet';
  let connecting = true;
  let recheck: NodeJS.Timeout | undefined;
  let closed = false;

  function unhealthy(reason: string): void {
    // Closed, the service is stopping: its client closes next, failing what was still connecting.
    if (closed) return;
    if (problem === undefined || connecting) log.error({ topic: name }, `publisher not ready: ${reason}`);
    problem = reason;
    connecting = false;
    recheck ??= setTimeout(() => {
      recheck = undefined;
      void warm();
    }, RECHECK_MS).unref();
  }

  async function warm(): Promise<void> {
    try {
      // GetTopic opens the channel and fetches credentials, so the first event does not pay.
      await (await topic()).getMetadata();
      problem = undefined;
    } catch (err) {
      // A publisher-only role may not read topics: the channel works, publishing will tell.
      if (grpcCode(err) === GRPC.PERMISSION_DENIED) problem = undefined;
      else unhealthy(describe(err));
    } finally {
      connecting = false;
    }
  }

  function describe(err: unknown): string {
    return grpcCode(err) === GRPC.NOT_FOUND
      ? `topic ${name} does not exist`
      : `topic ${name}: ${messageOf(err)}`;
  }

  async function publish(
    result: ProcessingCompleted,
    sourceMessageId: string,
    trace?: Context,
  ): Promise<string> {
    const event = ProcessingCompletedSchema.parse(result);
    const attributes: Record<string, string> = {
      event_type: event.event,
      underwriting_id: event.underwriting_id,
      source_message_id: sourceMessageId,
      ...(event.rerun_of !== undefined && { rerun_of: event.rerun_of }),
    };
    // OpenTelemetry's messaging conventions, as the client library's own tracing would record it;
    // the no-op tracer hands back the parent's context, so the message carries that on.
    const span = tracer.startSpan(
      `${topicId} create`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'gcp_pubsub',
          'messaging.operation.name': 'create',
          'messaging.destination.name': topicId,
        },
      },
      trace,
    );
    const traceparent = spanTraceparent(span);
    if (traceparent !== undefined) attributes[PUBSUB_TRACE_ATTRIBUTE] = traceparent;
    try {
      const messageId = await (
        await topic()
      ).publishMessage({ data: Buffer.from(JSON.stringify(event)), attributes });
      span.setAttribute('messaging.message.id', messageId);
      problem = undefined;
      connecting = false;
      return messageId;
    } catch (err) {
      const reason = describe(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      if (grpcCode(err) === GRPC.NOT_FOUND) unhealthy(reason);
      throw new OrchestratorError('PUBLISH_FAILED', `publishing processing.completed: ${reason}`, {
        cause: err,
      });
    } finally {
      span.end();
    }
  }

  return {
    publish,
    warm,
    notReady: () => problem,
    connecting: () => connecting,
    close: () => {
      closed = true;
      clearTimeout(recheck);
    },
  };
}
