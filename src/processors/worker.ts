// The thread side of the pool: one exported function per task, as Piscina expects.
import { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';

import { messageOf } from '../errors.js';
import { createLogger } from '../logging.js';
import { traceHttpRequests, type RunSpans } from '../telemetry/thread-recorder.js';
import { parseTraceparent, traceLogFields } from '../telemetry/traceparent.js';
import type { ProcessorContext, ProcessorDefinition } from './contract.js';
import { declaredDefinition } from './definitions.js';
import { jsonObjectProblem } from './json-values.js';
import { importPlugin } from './plugin-import.js';
import { createThreadInputs, type DocumentReader, type RunDocuments } from './inputs.js';
import {
  needsParse,
  type ParseDocument,
  type RunInput,
  type ThreadData,
  type ThreadResult,
  type ThreadTask,
} from './run.js';
import type * as DocumentModule from '../events/document.js';
import {
  clearFlag,
  DECODING,
  EXECUTING,
  EXITED,
  ownCpuClock,
  ownTid,
  runTableViews,
  SETTLED,
  SIGNALLED,
  stampFlag,
  stampStart,
} from './run-table.js';

const data = workerData as ThreadData;
const table = runTableViews(data.runTable);
const log = createLogger(data.logLevel);
const tid = ownTid();
const cpuClock = ownCpuClock();
/**
 * Runs that took this long (ms of wall time, the last one of their processor on this thread) have
 * their CPU time read: two readings of the clock cost ~7 us, noise beside a run of a millisecond,
 * not beside a run of microseconds, whose wall time says it is short anyway.
 */
const CPU_CLOCK_FROM_MS = 1;
/** The last run time of each processor on this thread that returned at once, in ms. */
const lastRunMs = new Map<string, number>();
const modules = new Map<string, Promise<{ default?: unknown }>>();
const inputs = createThreadInputs();

interface Run {
  readonly task: ThreadTask;
  /** Where the spans of its HTTP requests go (handed back with its result). */
  readonly trace: RunSpans;
  settled: boolean;
  fail(err: unknown): void;
}
const runs = new AsyncLocalStorage<Run>();

traceHttpRequests(() => {
  const run = runs.getStore();
  return run && !run.settled ? run.trace : undefined;
}, data.recordSpans);

// A processor may throw from a callback it left behind. If its run is still going, that fails
// the run; if the run is over, the error is logged and ignored: it must neither fail the next
// task of this thread nor end the thread.
function onStrayError(err: unknown): void {
  const run = runs.getStore();
  if (run && !run.settled) {
    run.fail(err);
    return;
  }
  log.error(
    { err, processor_id: run?.task.processorId, execution_id: run?.task.executionId },
    'a processor raised an error after its run had ended; ignored',
  );
}
process.on('uncaughtException', onStrayError);
process.on('unhandledRejection', onStrayError);

// A thread hosts several runs at once. `process.exit` ends all of them: say which run called it, so
// the pool fails that one and starts the others again elsewhere.
const exitThread = process.exit.bind(process);
process.exit = (code?: number | string | null) => {
  const run = runs.getStore();
  if (run && !run.settled) stampFlag(table, run.task.slot, EXITED);
  return exitThread(code);
};

/** A module this thread imports once; a failed import is not kept: the next run tries again. */
function importOnce(file: string): Promise<{ default?: unknown }> {
  let loaded = modules.get(file);
  if (!loaded) {
    loaded = importPlugin(file);
    loaded.catch(() => modules.delete(file));
    modules.set(file, loaded);
  }
  return loaded;
}

function load(file: string, processorId: string): Promise<ProcessorDefinition> {
  return importOnce(file).then((mod) => {
    const definition = declaredDefinition(mod.default, processorId) as ProcessorDefinition | undefined;
    if (typeof definition?.execute !== 'function') {
      throw new Error(`${file} declares no processor ${processorId} with an execute function`);
    }
    return definition;
  });
}

// What validates the documents too large to be checked on the main thread: zod, which costs a
// thread about 70 ms of CPU to import, so a thread imports it only for its first run that has one.
let parseDocument: ParseDocument | undefined;
// From source (tests), a module imported at run time is TypeScript, loaded as a plugin would be.
const documentModule = fileURLToPath(
  new URL(
    import.meta.url.endsWith('.ts') ? '../events/document.ts' : '../events/document.js',
    import.meta.url,
  ),
);

function loadParser(): Promise<void> {
  return importOnce(documentModule).then((mod) => {
    parseDocument = (mod as typeof DocumentModule).parseDocument;
  });
}

function documentReader(task: ThreadTask): DocumentReader {
  return {
    parse(id, text) {
      if (parseDocument === undefined) throw new Error('documents were read before their parser loaded');
      return parseDocument(id, text);
    },
    invalid(documents) {
      log.warn(
        {
          processor_id: task.processorId,
          execution_id: task.executionId,
          underwriting_id: task.underwritingId,
          invalid_documents: documents,
        },
        'documents that are not valid documents: the runs of this thread get them as missing',
      );
    },
  };
}

export default async function runProcessor(task: ThreadTask): Promise<ThreadResult> {
  const trace: RunSpans = { traceparent: task.traceparent, spans: [] };
  const documents = inputs.take(task.input, documentReader(task));
  const result = await attempt(task, trace, documents);
  return {
    ...result,
    ...(trace.spans.length > 0 && { spans: trace.spans }),
    ...(documents.readMs > 0 && { readMs: documents.readMs }),
  };
}

async function attempt(task: ThreadTask, trace: RunSpans, documents: RunDocuments): Promise<ThreadResult> {
  // Stamped now and again once the plugin is loaded: a first run on a fresh thread imports its
  // module, which is the thread's cost, not the run's; a load that never ends still meets the
  // pool's deadline, counted from this first stamp.
  stampStart(table, task.slot, tid);
  let started = performance.now();
  let over = false;
  const timing: ExecuteTiming = {
    measureCpu: (lastRunMs.get(task.processorId) ?? 0) >= CPU_CLOCK_FROM_MS,
    decodeCpuMs: 0,
  };
  // A processor that returned at once (it computes, and awaits nothing) ran for as long as its
  // `execute` call: the runs this thread executed between its start and its settling are theirs.
  const elapsed = () => timing.returnedMs ?? performance.now() - started;
  const ran = () => ({
    durationMs: elapsed(),
    ...(timing.cpuMs !== undefined && { cpuMs: timing.cpuMs }),
  });
  const deadline = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    const [definition] = await Promise.all([
      load(task.file, task.processorId),
      parseDocument === undefined && needsParse(task.input) ? loadParser() : undefined,
    ]);
    stampStart(table, task.slot, tid);
    started = performance.now();
    timer = setTimeout(() => {
      // Tell the pool this thread is alive and has signalled, so it grants the grace period.
      stampFlag(table, task.slot, SIGNALLED);
      deadline.abort(new DOMException('the processor reached its deadline', 'TimeoutError'));
    }, task.timeoutMs);
    // The first read decodes the documents (or copies this thread's parse of them): marked, so the
    // scheduler reads what the processor does around it, not the decoding. Not once the attempt is
    // over: its slot may be another attempt's by then.
    let input: RunInput | undefined;
    const given = (): RunInput => {
      if (input) return input;
      if (over) return (input = documents.get());
      stampFlag(table, task.slot, DECODING);
      const cpuFrom = timing.measureCpu ? cpuClock() : undefined;
      try {
        return (input = documents.get());
      } finally {
        clearFlag(table, task.slot, DECODING);
        if (cpuFrom !== undefined) timing.decodeCpuMs = (cpuClock() ?? cpuFrom) - cpuFrom;
      }
    };
    stampFlag(table, task.slot, EXECUTING);
    const ctx = processorContext(task, deadline.signal, given);
    const result = await execute(definition, ctx, task, trace, timing);
    // Settled after the deadline, within the grace: whatever it returned, it is late.
    if (deadline.signal.aborted) return { status: 'timeout', ...ran() };
    const problem = resultProblem(result);
    if (problem !== undefined) return { status: 'failed', error: problem, retryable: false, ...ran() };
    return { status: 'completed', factors: (result as { factors: never }).factors, ...ran() };
  } catch (err) {
    if (deadline.signal.aborted) return { status: 'timeout', ...ran() };
    return { status: 'failed', error: messageOf(err), ...retryability(err), ...ran() };
  } finally {
    over = true;
    clearTimeout(timer);
    documents.release();
    stampFlag(table, task.slot, SETTLED);
  }
}

/**
 * Whether a thrown value asks to be retried: the SDK's `RetryableError`, or anything with
 * `retryable: true` (plain JavaScript plugins need no import), optionally with `retryAfterMs`.
 */
function retryability(err: unknown): { retryable: boolean; retryAfterMs?: number } {
  if (typeof err !== 'object' || err === null) return { retryable: false };
  const { retryable, retryAfterMs } = err as { retryable?: unknown; retryAfterMs?: unknown };
  if (retryable !== true) return { retryable: false };
  return typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0
    ? { retryable: true, retryAfterMs }
    : { retryable: true };
}

/** What the processor's `execute` is given: its documents as `given` reads them. */
function processorContext(task: ThreadTask, signal: AbortSignal, given: () => RunInput): ProcessorContext {
  let runLog: ProcessorContext['log'] | undefined;
  return {
    underwritingId: task.underwritingId,
    executionId: task.executionId,
    get documents() {
      return given().documents;
    },
    get missingDocuments() {
      return given().missingDocuments;
    },
    signal,
    // Made on first use: most runs never log, and a child logger costs more than a short run.
    get log() {
      return (runLog ??= log.child({
        processor_id: task.processorId,
        execution_id: task.executionId,
        underwriting_id: task.underwritingId,
        ...traceLogFields(parseTraceparent(task.traceparent), data.traceProject),
      }));
    },
  };
}

/**
 * Set when `execute` returned no promise (or threw): how long the call took, in ms, and its CPU
 * time less `decodeCpuMs` (the CPU time of the documents' decoding in it) where it can be read
 * and `measureCpu`.
 */
interface ExecuteTiming {
  measureCpu: boolean;
  returnedMs?: number;
  cpuMs?: number;
  decodeCpuMs: number;
}

function execute(
  definition: ProcessorDefinition,
  ctx: ProcessorContext,
  task: ThreadTask,
  trace: RunSpans,
  timing: ExecuteTiming,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const run: Run = {
      task,
      trace,
      settled: false,
      fail: (err) => {
        run.settled = true;
        reject(err instanceof Error ? err : new Error(messageOf(err)));
      },
    };
    runs.run(run, () => {
      Promise.resolve()
        .then(() => {
          const from = performance.now();
          const cpuFrom = timing.measureCpu ? cpuClock() : undefined;
          const returned = () => {
            timing.returnedMs = performance.now() - from;
            lastRunMs.set(task.processorId, timing.returnedMs);
            const cpuTo = cpuFrom === undefined ? undefined : cpuClock();
            if (cpuFrom !== undefined && cpuTo !== undefined)
              timing.cpuMs = Math.max(0, cpuTo - cpuFrom - timing.decodeCpuMs);
          };
          try {
            const value: unknown = definition.execute(ctx);
            if (!isThenable(value)) returned();
            return value;
          } catch (err) {
            returned();
            throw err;
          }
        })
        .then(
          (value) => {
            run.settled = true;
            resolve(value);
          },
          (err: unknown) => run.fail(err),
        );
    });
  });
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function resultProblem(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null || !('factors' in result)) {
    const got =
      typeof result === 'object' && result !== null
        ? `{ ${Object.keys(result).join(', ')} }`
        : String(result);
    return `the result must be { factors: {...} }, got ${got}`;
  }
  return jsonObjectProblem(result.factors);
}

/** Holds a thread briefly, so that `warm` reaches every thread of the pool. */
export async function hold(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
