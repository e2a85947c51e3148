import type { DocumentSource } from './documents/source.js';
import type {
  CompletedProcessor,
  FailedProcessor,
  OverallStatus,
  ProcessingCompleted,
  TimeoutProcessor,
} from './events/processing-completed.js';
import type { UnderwritingCreated } from './events/underwriting-created.js';
import type { Logger } from './logging.js';
import type { InstalledProcessor } from './processors/discovery.js';
import { newExecutionId } from './processors/execution-id.js';
import type { ProcessorPool, RunOutcome } from './processors/pool.js';
import { purchasedProcessors, type Purchases } from './purchases.js';

export interface OrchestratorDeps {
  pool: Pick<ProcessorPool, 'run'>;
  processors: ReadonlyMap<string, InstalledProcessor>;
  documents: DocumentSource;
  purchases: Purchases;
  /** Deadline of processors that do not set their own `timeoutMs`. */
  defaultTimeoutMs: number;
  log: Logger;
}

/** Where an event came from: its message id, and when it was received (`performance.now()`). */
export interface Receipt {
  sourceMessageId: string;
  receivedAt?: number;
  /**
   * Aborted when the transport gives up on the event (shutdown): `process` then rejects with
   * the signal's reason at once and logs nothing; runs already in the pool are left to it.
   */
  signal?: AbortSignal;
  /**
   * The execution ledger's outcomes from earlier deliveries, by processor id: a COMPLETED one
   * is reused as it is (same `execution_id`, `factors`, `execution_time`) and its processor is
   * not run again; the others run again.
   */
  recorded?: ReadonlyMap<string, ResultEntry>;
  /** Called with each run's outcome as it settles (the ledger records it); must not throw. */
  onOutcome?: (outcome: ResultEntry) => void;
}

export type Orchestrator = ReturnType<typeof createOrchestrator>;

const seconds = (ms: number) => Math.round(ms) / 1000;

/**
 * One validated `underwriting.created` in, one `processing.completed` out. Fetches the
 * documents, runs every purchased processor in the pool, each under its deadline, and groups
 * the outcomes. A processor's outcome never fails the event; only the document source can
 * (a retryable error: the event is retried later). Knows nothing of Pub/Sub or HTTP.
 */
export function createOrchestrator(deps: OrchestratorDeps) {
  const { pool, processors, documents, purchases, defaultTimeoutMs, log } = deps;

  async function process(event: UnderwritingCreated, receipt: Receipt): Promise<ProcessingCompleted> {
    const receivedAt = receipt.receivedAt ?? performance.now();
    const { data } = event;
    const eventLog = log.child({
      underwriting_id: data.underwriting_id,
      source_message_id: receipt.sourceMessageId,
    });

    const { signal } = receipt;
    const batch = await documents.fetch(data.documents);
    signal?.throwIfAborted();
    const input = JSON.stringify({
      documents: batch.documents,
      missingDocuments: batch.missing.map((m) => m.id),
    });

    const entries = await untilAborted(
      signal,
      Promise.all(
        purchasedProcessors(data, purchases, processors.keys()).map(async (id): Promise<ResultEntry> => {
          const recorded = receipt.recorded?.get(id);
          if (recorded?.status === 'completed') return recorded;
          const outcome = resultEntry(await runOne(id, data.underwriting_id, input));
          receipt.onOutcome?.(outcome);
          return outcome;
        }),
      ),
    );

    const result = groupEntries(data.underwriting_id, entries, performance.now() - receivedAt);
    for (const { status, entry } of entries) {
      if (status === 'failed') {
        eventLog.warn(
          {
            processor_id: entry.processor_id,
            execution_id: entry.execution_id,
            error_message: entry.error_message,
          },
          'processor failed',
        );
      } else if (status === 'timeout') {
        eventLog.warn(
          {
            processor_id: entry.processor_id,
            execution_id: entry.execution_id,
            timeout_ms: entry.timeout_ms,
            timeout_phase: entry.timeout_phase,
          },
          'processor timed out',
        );
      }
    }
    eventLog.info(
      {
        overall_status: result.overall_status,
        ...result.summary,
        ...(batch.missing.length > 0 && { missing_documents: batch.missing }),
      },
      'underwriting processed',
    );
    return result;
  }

  function runOne(id: string, underwritingId: string, input: string): Promise<RunOutcome> {
    const processor = processors.get(id);
    if (!processor) {
      return Promise.resolve({
        processorId: id,
        executionId: newExecutionId(),
        durationMs: 0,
        status: 'failed',
        error: 'processor not installed',
      });
    }
    return pool.run({
      file: processor.file,
      processorId: id,
      underwritingId,
      timeoutMs: processor.timeoutMs ?? defaultTimeoutMs,
      input,
    });
  }

  return { process };
}

function untilAborted<T>(signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Groups outcomes into the `processing.completed` shape, in purchase order. */
export function group(
  underwritingId: string,
  outcomes: readonly RunOutcome[],
  wallMs: number,
): ProcessingCompleted {
  return groupEntries(underwritingId, outcomes.map(resultEntry), wallMs);
}

/** Groups entries (runs of this delivery, and completed ones reused from the ledger). */
function groupEntries(
  underwritingId: string,
  outcomes: readonly ResultEntry[],
  wallMs: number,
): ProcessingCompleted {
  const completed: CompletedProcessor[] = [];
  const failed: FailedProcessor[] = [];
  const timedOut: TimeoutProcessor[] = [];
  for (const entry of outcomes) {
    if (entry.status === 'completed') completed.push(entry.entry);
    else if (entry.status === 'failed') failed.push(entry.entry);
    else timedOut.push(entry.entry);
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

/** A run's outcome as the entry `processing.completed` publishes for it, with its group. */
export type ResultEntry =
  | { status: 'completed'; entry: CompletedProcessor }
  | { status: 'failed'; entry: FailedProcessor }
  | { status: 'timeout'; entry: TimeoutProcessor };

export function resultEntry(o: RunOutcome): ResultEntry {
  const entry = {
    processor_id: o.processorId,
    execution_id: o.executionId,
    execution_time: seconds(o.durationMs),
  };
  if (o.status === 'completed') return { status: o.status, entry: { ...entry, factors: o.factors } };
  if (o.status === 'failed') return { status: o.status, entry: { ...entry, error_message: o.error } };
  return { status: o.status, entry: { ...entry, timeout_ms: o.timeoutMs, timeout_phase: o.phase } };
}
