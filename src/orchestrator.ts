import { ROOT_CONTEXT, SpanStatusCode, trace, type Context } from '@opentelemetry/api';

import type { DocumentBatch, DocumentSource } from './documents/source.js';
import { checkDocuments } from './events/document.js';
import { errorType } from './errors.js';
import type {
  CompletedProcessor,
  FailedProcessor,
  OverallStatus,
  ProcessingCompleted,
  TimeoutProcessor,
} from './events/processing-completed.js';
import type { UnderwritingCreated } from './events/underwriting-created.js';
import { createCircuits } from './guard/circuits.js';
import { createGuard, type Gate, type Guard } from './guard/guard.js';
import type { OutcomeFacts } from './ledger/history.js';
import type { Pause } from './ledger/ops-records.js';
import type { Logger } from './logging.js';
import type { InstalledProcessor } from './processors/discovery.js';
import { newExecutionId } from './processors/execution-id.js';
import type { ProcessorPool } from './processors/pool.js';
import type { Ticket } from './admission/admission.js';
import {
  NOT_INSTALLED,
  encodeTexts,
  seconds,
  toEntry,
  type EncodedInput,
  type RunOutcome,
} from './processors/run.js';
import { purchasedProcessors, type Purchases } from './purchases.js';
import { reuseOrRun } from './reuse.js';
import { logBindings, noTelemetry, type Telemetry } from './telemetry/telemetry.js';

export interface OrchestratorDeps {
  pool: Pick<ProcessorPool, 'run'>;
  processors: ReadonlyMap<string, InstalledProcessor>;
  documents: DocumentSource;
  purchases: Purchases;
  /** Deadline of processors that do not set their own `timeoutMs`. */
  defaultTimeoutMs: number;
  log: Logger;
  /** Spans and metrics (default: none). */
  telemetry?: Pick<Telemetry, 'tracer' | 'metrics' | 'projectId'>;
  /**
   * Whether a processor is called at all: operators' pauses and circuit breakers (default: none
   * paused, no circuit). A run it refuses is FAILED at once with its code, not called.
   */
  guard?: Guard;
}

/** Where an event came from: its message id, and when it was received (`performance.now()`). */
export interface Receipt {
  sourceMessageId: string;
  receivedAt?: number;
  /** Which path brought it (`pull`, `push`, or the `run` command), for its log lines. */
  transport?: 'pull' | 'push' | 'run';
  /** Pub/Sub's delivery count (with a dead-letter policy), for its log lines; else null. */
  deliveryAttempt?: number | undefined;
  /**
   * Aborted when the transport gives up on the event (shutdown): `process` then rejects with
   * the signal's reason at once and logs nothing; runs already in the pool are left to it.
   */
  signal?: AbortSignal;
  /**
   * The execution ledger's outcomes from earlier deliveries, by processor id: a COMPLETED one
   * is reused as it is (same `execution_id`, `factors`, `execution_time`) and its processor is
   * not run again; the others run again, their `attempts` counted on from the recorded ones
   * (the rule: `reuse.ts`).
   */
  recorded?: ReadonlyMap<string, RunOutcome>;
  /**
   * An operator's re-run: outcomes of another execution taken as they are, whatever their
   * status (processors absent from it run; see `rerunTakes`). `recorded` COMPLETED ones still
   * come first.
   */
  reuse?: ReadonlyMap<string, RunOutcome>;
  /**
   * Called with each outcome as it settles, and with each reused one (`facts.reused`), so the
   * ledger records what this execution is made of; must not throw.
   */
  onOutcome?: (outcome: RunOutcome, facts: OutcomeFacts) => void;
  /**
   * The event's admission ticket: told what the event holds once the pool has been asked for
   * every run (each started, or waits there).
   */
  ticket?: Pick<Ticket, 'started'> | undefined;
  /**
   * The event's trace context (its span, made by the transport's pipeline): the document fetch
   * and every processor run are its children, and every log line names it.
   */
  trace?: Context | undefined;
}

export type Orchestrator = ReturnType<typeof createOrchestrator>;

/**
 * One validated `underwriting.created` in, one `processing.completed` out. Fetches the
 * documents, runs every purchased processor in the pool, each under its deadline, and groups
 * the outcomes. A processor's outcome never fails the event; only the document source can
 * (a retryable error: the event is retried later). Knows nothing of Pub/Sub or HTTP.
 */
export function createOrchestrator(deps: OrchestratorDeps) {
  const { pool, processors, documents, purchases, defaultTimeoutMs, log } = deps;
  const telemetry = deps.telemetry ?? noTelemetry();
  const { metrics } = telemetry;
  const guard =
    deps.guard ?? createGuard({ circuits: createCircuits({ policies: new Map(), log, metrics }) });

  async function process(event: UnderwritingCreated, receipt: Receipt): Promise<ProcessingCompleted> {
    const receivedAt = receipt.receivedAt ?? performance.now();
    const { data } = event;
    const { signal } = receipt;
    const { input, missing } = await fetchInput(documents, telemetry, data.documents, receipt.trace);
    signal?.throwIfAborted();

    const pauses = await guard.pauses();
    signal?.throwIfAborted();
    // What the pool is asked to run (admission's estimate): installed, and not paused.
    const asked: string[] = [];
    const runs = purchasedProcessors(data, purchases, processors.keys()).map(
      async (id): Promise<RunOutcome> => {
        const recorded = receipt.recorded?.get(id);
        const decided = reuseOrRun(recorded, receipt.reuse?.get(id));
        if ('reuse' in decided) {
          metrics.reusedRuns.add(1, { 'processor.id': id });
          receipt.onOutcome?.(decided.reuse, { reused: true, queueWait: null });
          return decided.reuse;
        }
        if (processors.has(id) && !pauses.has(id)) asked.push(id);
        const ran = await runOne(id, data.underwriting_id, input, pauses, receipt.trace);
        const before = decided.run.attemptsBefore;
        const outcome = recorded ? { ...ran, attempts: ran.attempts + before } : ran;
        // Wall time since receipt less run time: documents, admission, retry backoff.
        const queueWait = Math.max(0, seconds(performance.now() - receivedAt) - outcome.execution_time);
        receipt.onOutcome?.(outcome, { reused: false, queueWait: Math.round(queueWait * 1000) / 1000 });
        return outcome;
      },
    );
    // The pool was asked for every run in the calls above: each started, or waits there.
    receipt.ticket?.started({ inputBytes: input.shared.byteLength, processorIds: asked });
    const outcomes = await untilAborted(signal, Promise.all(runs));

    const result = group(data.underwriting_id, outcomes, performance.now() - receivedAt);
    logOutcomes(eventLogOf(event, receipt), outcomes, result, missing);
    return result;
  }

  function eventLogOf({ data }: UnderwritingCreated, receipt: Receipt): Logger {
    return log.child({
      underwriting_id: data.underwriting_id,
      source_message_id: receipt.sourceMessageId,
      transport: receipt.transport ?? null,
      delivery_attempt: receipt.deliveryAttempt ?? null,
      ...logBindings(telemetry, receipt.trace),
    });
  }

  /** Asks the pool at once (in the caller's turn), unless the guard refuses the run. */
  function runOne(
    id: string,
    underwritingId: string,
    input: EncodedInput,
    pauses: ReadonlyMap<string, Pause>,
    parent: Context | undefined,
  ): Promise<RunOutcome> {
    const processor = processors.get(id);
    if (!processor) return Promise.resolve(notCalled(id, 'PROCESSOR_NOT_INSTALLED', NOT_INSTALLED));
    const gate = guard.admit(id, pauses, parent);
    if (!gate.call) return Promise.resolve(skipped(telemetry, id, gate, parent));
    const run = pool.run({
      file: processor.file,
      processorId: id,
      underwritingId,
      timeoutMs: processor.timeoutMs ?? defaultTimeoutMs,
      input,
      concurrency: processor.concurrency,
      retry: processor.retry,
      version: processor.version,
      trace: parent,
    });
    return run.then((ran) => {
      guard.settle(id, gate, ran, parent);
      return ran.status === 'failed' ? { ...ran, error_code: ran.error_code ?? 'PROCESSOR_FAILED' } : ran;
    });
  }

  return { process };
}

type Traces = Pick<Telemetry, 'tracer' | 'metrics'>;

/**
 * The event's documents, fetched and encoded for its runs: what is kept of them while the runs
 * last. The fetched documents are locals of this call alone, which ends here (a suspended async
 * function keeps every local alive, used or not): a 512 KiB event's documents are not held on
 * the main thread until its verdict beside their encoding.
 */
async function fetchInput(
  documents: DocumentSource,
  telemetry: Traces,
  ids: readonly string[],
  parent: Context | undefined,
): Promise<{ input: EncodedInput; missing: DocumentBatch['missing'] }> {
  const { documents: texts, missing } = await fetchDocuments(documents, telemetry, ids, parent);
  const missingIds = missing.map((m) => m.id);
  const input = encodeTexts(texts, missingIds);
  return { input, missing };
}

/**
 * The document fetch, the small documents validated (`checkDocuments`), under its own span: each
 * HTTP request is a child of it.
 */
async function fetchDocuments(
  documents: DocumentSource,
  { tracer, metrics }: Traces,
  ids: readonly string[],
  parent: Context | undefined,
): Promise<DocumentBatch> {
  const span = tracer.startSpan('documents fetch', { attributes: { 'documents.count': ids.length } }, parent);
  const started = performance.now();
  let failure: string | undefined;
  try {
    const fetched = await documents.fetch(ids, trace.setSpan(parent ?? ROOT_CONTEXT, span));
    const batch = checkDocuments(fetched);
    span.setAttribute('documents.missing', batch.missing.length);
    return batch;
  } catch (err) {
    failure = errorType(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    throw err;
  } finally {
    span.end();
    metrics.fetchDuration.record(
      (performance.now() - started) / 1000,
      failure === undefined ? {} : { 'error.type': failure },
    );
  }
}

/** A run the guard refused: FAILED at once, under a span of its own, and counted. */
function skipped(
  { tracer, metrics }: Traces,
  id: string,
  gate: Extract<Gate, { call: false }>,
  parent: Context | undefined,
): RunOutcome {
  const outcome = notCalled(id, gate.code, gate.message);
  const span = tracer.startSpan(
    `processor ${id}`,
    {
      attributes: {
        'processor.id': id,
        'processor.execution_id': outcome.execution_id,
        'processor.status': 'failed',
        'processor.attempts': 0,
        'error.type': gate.code,
      },
    },
    parent,
  );
  span.setStatus({ code: SpanStatusCode.ERROR, message: gate.message });
  span.end();
  metrics.skippedRuns.add(1, { 'processor.id': id, 'error.code': gate.code });
  return outcome;
}

/** The event's outcome lines: one per processor that did not complete, then its summary. */
function logOutcomes(
  eventLog: Logger,
  outcomes: readonly RunOutcome[],
  result: ProcessingCompleted,
  missing: DocumentBatch['missing'],
): void {
  for (const outcome of outcomes) {
    if (outcome.status === 'failed') {
      const { processor_id, execution_id, attempts, error_message, error_code } = outcome;
      const fields = { processor_id, execution_id, attempts, error_message, error_code };
      if (error_code === 'PROCESSOR_PAUSED' || error_code === 'PROCESSOR_CIRCUIT_OPEN')
        eventLog.info(fields, 'processor not called');
      else eventLog.warn(fields, 'processor failed');
    } else if (outcome.status === 'timeout') {
      const { processor_id, execution_id, attempts, timeout_ms, timeout_phase } = outcome;
      eventLog.warn(
        { processor_id, execution_id, attempts, timeout_ms, timeout_phase },
        'processor timed out',
      );
    }
  }
  eventLog.info(
    {
      overall_status: result.overall_status,
      ...result.summary,
      ...(missing.length > 0 && { missing_documents: missing }),
    },
    'underwriting processed',
  );
}

/** A FAILED entry for a processor that was not called: it never started (0 attempts, 0 s). */
function notCalled(
  id: string,
  code: Extract<RunOutcome, { status: 'failed' }>['error_code'],
  message: string,
): RunOutcome {
  return {
    status: 'failed',
    processor_id: id,
    execution_id: newExecutionId(),
    execution_time: 0,
    attempts: 0,
    error_message: message,
    error_code: code,
  };
}

/** What waits on each signal: see `untilAborted`. */
const abortWaiters = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * `work`, or the signal's reason once it aborts. Every event in flight shares one signal (its
 * transport's), so one listener on it serves them all: an EventTarget walks its listeners on every
 * add and remove, which with a thousand events in flight cost 0.3 ms an event.
 */
function untilAborted<T>(signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    const waiters = waitersOf(signal);
    waiters.add(onAbort);
    work.then(resolve, reject).finally(() => waiters.delete(onAbort));
  });
}

function waitersOf(signal: AbortSignal): Set<() => void> {
  const known = abortWaiters.get(signal);
  if (known) return known;
  const waiters = new Set<() => void>();
  abortWaiters.set(signal, waiters);
  signal.addEventListener('abort', () => waiters.forEach((abort) => abort()), { once: true });
  return waiters;
}

/** Groups outcomes into the `processing.completed` shape, in purchase order. */
export function group(
  underwritingId: string,
  outcomes: readonly RunOutcome[],
  wallMs: number,
): ProcessingCompleted {
  const completed: CompletedProcessor[] = [];
  const failed: FailedProcessor[] = [];
  const timedOut: TimeoutProcessor[] = [];
  for (const o of outcomes) {
    if (o.status === 'completed') completed.push(toEntry(o));
    else if (o.status === 'failed') failed.push(toEntry(o));
    else timedOut.push(toEntry(o));
  }
  return {
    event: 'processing.completed',
    underwriting_id: underwritingId,
    completed_at: new Date().toISOString(),
    overall_status: overallStatus(completed.length, outcomes.length),
    summary: {
      total_processors: outcomes.length,
      completed_count: completed.length,
      failed_count: failed.length,
      timeout_count: timedOut.length,
      total_execution_time: seconds(wallMs),
    },
    completed_processors: completed,
    failed_processors: failed,
    timeout_processors: timedOut,
  };
}

function overallStatus(completed: number, total: number): OverallStatus {
  if (completed === 0) return 'failed';
  return completed === total ? 'success' : 'partial_success';
}
