import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';

import { SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import { Piscina, queueOptionsSymbol } from 'piscina';

import { messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { noTelemetry, type Telemetry } from '../telemetry/telemetry.js';
import { spanTraceparent } from '../telemetry/trace-context.js';
import type { ConcurrencyPolicy, RetryPolicy } from './contract.js';
import { Deadline } from './deadline.js';
import { newExecutionId } from './execution-id.js';
import { runBytes } from './footprint.js';
import { createLimits } from './limits.js';
import { seconds, type RunOutcome, type ThreadData, type ThreadResult, type ThreadTask } from './run.js';
import { createRunTable, EXITED, type RunTable } from './run-table.js';
import { createScheduler, type Attempt, type Scheduler } from './scheduler.js';

/** One processor run, as the orchestrator asks for it. */
export interface ProcessorRun {
  file: string;
  processorId: string;
  underwritingId: string;
  timeoutMs: number;
  /** `encodeInput` of the event's documents: serialized once per event, shared by its runs. */
  input: string;
  concurrency?: ConcurrencyPolicy | undefined;
  retry?: RetryPolicy | undefined;
  /** The processor's version, for its run span. */
  version?: string | undefined;
  /** The event's trace context: the run span is its child. */
  trace?: Context | undefined;
}

export interface PoolOptions {
  /** Threads started up front and kept (a spawn costs tens of milliseconds): the cores. */
  minThreads: number;
  /** Most threads; more start while every thread that may take a run is full. */
  maxThreads: number;
  /** Runs that compute at once. Default: the cores. */
  cpuSlots?: number;
  /** Heap limit of each thread (old generation), in MB. */
  maxHeapMb: number;
  /** How long a run whose `ctx.signal` aborted at the deadline may take to settle. */
  timeoutGraceMs: number;
  logLevel: string;
  log: Logger;
  /** Run spans, thread spans and per-processor metrics (default: none). */
  telemetry?: Pick<Telemetry, 'tracer' | 'metrics' | 'adopt' | 'tracing' | 'projectId'>;
}

/**
 * The share of a thread's heap limit its runs' inputs may hold (see `footprint.ts`); the rest is
 * room for what the processors allocate and for the garbage collector. Runs that wait share a
 * thread up to it, and while the thread's event loop is not busy: not a fixed count.
 */
const THREAD_HEAP_SHARE = 0.5;
/**
 * Piscina's own per-thread cap: the scheduler places every task itself (heap and event-loop bound),
 * so this only has to stay out of its way.
 */
const PISCINA_TASKS_PER_THREAD = 1_000_000;
/** Most times a run is started again because a neighbour ended its thread. */
const MAX_RESTARTS = 3;
/** Idle threads above the minimum end after this long. */
const IDLE_THREAD_MS = 30_000;

// Running from source (vitest, tsx), the thread entry is TypeScript too.
const fromSource = import.meta.url.endsWith('.ts');
// A path, not a URL: Piscina converts a URL back to a path on every run.
const workerFile = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url));

/** What a run's span needs from its attempts. */
interface Timing {
  /** Queue time so far, over every attempt. */
  queueMs: number;
  /** The run span's context, handed to each attempt's thread. */
  traceparent: string | undefined;
}

/** How one attempt ended, before the retry and restart rules look at it. */
type AttemptEnd =
  | { kind: 'result'; result: ThreadResult }
  | { kind: 'terminated'; durationMs: number }
  | { kind: 'restart'; durationMs: number; solo: boolean }
  | { kind: 'thread-failed'; durationMs: number; error: string };

/**
 * The one Piscina pool every processor runs in. Each run is admitted by the scheduler (runs that
 * wait share threads and all start at once; runs that compute get about a core each), runs under
 * its own deadline counted from when it really starts (see `deadline.ts`), is retried by its
 * processor's policy, and is started again elsewhere, with the time it has left, when a neighbour
 * ends the thread they shared. `run` never rejects: every outcome is a value.
 */
export class ProcessorPool {
  readonly #piscina: Piscina<ThreadTask, ThreadResult>;
  readonly #table: RunTable;
  readonly #scheduler: Scheduler;
  readonly #limits = createLimits();
  readonly #options: PoolOptions;
  readonly #cpuSlots: number;
  readonly #telemetry: NonNullable<PoolOptions['telemetry']>;
  /** Threads that exited on their own (`process.exit`), by their exit code. */
  readonly #exitCodes = new WeakMap<Worker, number>();
  #closing = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#telemetry = options.telemetry ?? noTelemetry();
    this.#table = createRunTable();
    const workerData: ThreadData = {
      runTable: this.#table.buffer,
      logLevel: options.logLevel,
      traceProject: this.#telemetry.projectId,
      recordSpans: this.#telemetry.tracing,
    };
    this.#cpuSlots = options.cpuSlots ?? availableParallelism();
    this.#scheduler = createScheduler({
      cpuSlots: this.#cpuSlots,
      maxThreads: options.maxThreads,
      threadBudgetBytes: THREAD_HEAP_SHARE * options.maxHeapMb * 2 ** 20,
      table: this.#table,
      threads: () => this.#piscina.threads,
      spawn: () => void this.#piscina.run(undefined as never, { name: 'hold' }).catch(() => {}),
    });
    this.#piscina = new Piscina({
      filename: workerFile,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: IDLE_THREAD_MS,
      concurrentTasksPerWorker: PISCINA_TASKS_PER_THREAD,
      loadBalancer: (task, workers) =>
        this.#scheduler.place((task[queueOptionsSymbol] as Attempt | null) ?? null, workers),
      // Piscina's run-time and wait-time histograms cost every task; nothing reads them.
      recordTiming: false,
      // Wait for tasks with Atomics.waitAsync: the thread's event loop keeps turning between
      // tasks, so callbacks a processor left behind settle there and not inside the next task.
      atomics: 'async',
      resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      workerData,
    });
    this.#piscina.on('workerCreate', (worker: { id: number }) => {
      this.#watchExit(worker.id);
      this.#scheduler.threadReady(worker.id);
    });
    // Piscina emits it before it drops the thread from its list: look once it has.
    this.#piscina.on('workerDestroy', () => queueMicrotask(() => this.#scheduler.threadGone()));
    // A thread that fails between tasks (e.g. out of memory from a leftover callback) is
    // replaced by Piscina; without a listener the 'error' event would end the process.
    this.#piscina.on('error', (err: unknown) => {
      options.log.error({ err }, 'a worker thread failed outside any task; it was replaced');
    });
  }

  /** Resolves once the minimum threads have started and loaded their entry module. */
  async warm(): Promise<void> {
    await Promise.all(
      Array.from({ length: this.#options.minThreads }, () =>
        this.#piscina.run(undefined as never, { name: 'hold' }),
      ),
    );
  }

  /**
   * What a run asked for now would wait for (admission reads it): how long, in ms, until a CPU
   * slot is free for it (the expected run time of the runs waiting for one, over the slots); runs
   * that wait for a thread none can give; runs that wait for their concurrency limit.
   */
  load(): { cpuWaitMs: number; threadless: number; limitWaiting: number } {
    const { slotMs, threadless } = this.#scheduler.cpuQueue();
    return { cpuWaitMs: slotMs / this.#cpuSlots, threadless, limitWaiting: this.#limits.waiting() };
  }

  /** How long the runs of these processors are expected to hold a CPU slot, in all, in ms. */
  expectedCpuMs(processorIds: Iterable<string>): number {
    return this.#scheduler.expectedSlotMs(processorIds);
  }

  /** CPU slots: how many runs compute at once. */
  get cpuSlots(): number {
    return this.#cpuSlots;
  }

  /** Threads now, how many compute, runs waiting for admission, and what was learnt. */
  stats() {
    return this.#scheduler.stats();
  }

  /**
   * One run, under a span `processor <id>` (child of `run.trace`) that lives on this thread, so
   * that it is exported whatever becomes of the worker thread; the thread's own spans are its
   * children and come back with each attempt's result.
   */
  async run(run: ProcessorRun): Promise<RunOutcome> {
    const executionId = newExecutionId();
    const { tracer, metrics } = this.#telemetry;
    const span = tracer.startSpan(
      `processor ${run.processorId}`,
      {
        attributes: {
          'processor.id': run.processorId,
          'processor.execution_id': executionId,
          ...(run.version !== undefined && { 'processor.version': run.version }),
        },
      },
      run.trace,
    );
    const timing: Timing = { queueMs: 0, traceparent: spanTraceparent(span) };
    const outcome = await this.#run(run, executionId, timing);
    const status = outcome.status;
    const attributes: Attributes = {
      'processor.status': status,
      'processor.attempts': outcome.attempts,
      'processor.queue.duration': timing.queueMs / 1000,
    };
    if (outcome.status === 'timeout') attributes['processor.timeout_phase'] = outcome.timeout_phase;
    span.setAttributes(attributes);
    if (outcome.status === 'failed')
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error_message });
    if (outcome.status === 'timeout') span.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
    span.end();
    const processor = { 'processor.id': run.processorId };
    const withStatus = { 'processor.id': run.processorId, 'processor.status': status };
    metrics.runDuration.record(outcome.execution_time, withStatus);
    metrics.queueDuration.record(timing.queueMs / 1000, processor);
    metrics.attempts.add(outcome.attempts, withStatus);
    return outcome;
  }

  async #run(run: ProcessorRun, executionId: string, timing: Timing): Promise<RunOutcome> {
    const base = { processor_id: run.processorId, execution_id: executionId };
    const maxAttempts = run.retry?.attempts ?? 1;
    let attempts = 0;
    let failures = 0;
    let restarts = 0;
    let ranMs = 0;
    let timeLeftMs = run.timeoutMs;
    let solo = false;
    for (;;) {
      attempts++;
      const waitFrom = process.hrtime.bigint();
      const end = await this.#limited(run, () =>
        this.#attempt(run, executionId, timeLeftMs, solo, waitFrom, timing),
      );
      const durationMs = end.kind === 'result' ? end.result.durationMs : end.durationMs;
      ranMs += durationMs;
      const done = { ...base, execution_time: seconds(ranMs), attempts };
      if (end.kind === 'restart' && restarts < MAX_RESTARTS) {
        restarts++;
        timeLeftMs = Math.max(1, timeLeftMs - durationMs);
        solo = end.solo;
        continue;
      }
      if (end.kind === 'restart' || end.kind === 'thread-failed') {
        const error =
          end.kind === 'restart' ? 'its worker thread was ended by other runs, too often' : end.error;
        return { status: 'failed', ...done, error_message: error };
      }
      if (end.kind === 'terminated') {
        return { status: 'timeout', ...done, timeout_ms: run.timeoutMs, timeout_phase: 'terminated' };
      }
      const { result } = end;
      if (result.status === 'completed') return { status: 'completed', ...done, factors: result.factors };
      if (result.status === 'timeout') {
        return { status: 'timeout', ...done, timeout_ms: run.timeoutMs, timeout_phase: 'signal' };
      }
      failures++;
      if (!result.retryable || failures >= maxAttempts || !run.retry) {
        return { status: 'failed', ...done, error_message: result.error };
      }
      await sleep(backoffMs(run.retry, failures, result.retryAfterMs));
      timeLeftMs = run.timeoutMs;
      solo = false;
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#scheduler.close();
    await this.#piscina.destroy();
  }

  async #limited<T>(run: ProcessorRun, body: () => Promise<T>): Promise<T> {
    if (!run.concurrency) return body();
    const release = await this.#limits.acquire(run.concurrency.key ?? run.processorId, run.concurrency.limit);
    try {
      return await body();
    } finally {
      release();
    }
  }

  async #attempt(
    run: ProcessorRun,
    executionId: string,
    timeoutMs: number,
    solo: boolean,
    waitFrom: bigint,
    timing: Timing,
  ): Promise<AttemptEnd> {
    const slotOrWait = this.#table.acquire();
    const slot = typeof slotOrWait === 'number' ? slotOrWait : await slotOrWait;
    const attempt: Attempt = {
      slot,
      processorId: run.processorId,
      isolated: solo,
      bytes: runBytes(run.input.length),
      mode: 'probe',
      thread: undefined,
      startElu: undefined,
      innocent: false,
    };
    const scheduler = this.#scheduler;
    const deadline = new Deadline({
      table: this.#table,
      slot,
      timeoutMs,
      graceMs: this.#options.timeoutGraceMs,
      threadIdleMs: () => scheduler.idleMs(attempt),
      beforeAbort: () => {
        for (const other of attempt.thread?.attempts ?? []) if (other !== attempt) other.innocent = true;
      },
    });
    let ranMs: number | undefined;
    try {
      await scheduler.admit(attempt);
      // A literal with a fixed shape: V8 clones it for postMessage markedly faster than a spread.
      const task: ThreadTask & { [queueOptionsSymbol]: Attempt } = {
        file: run.file,
        processorId: run.processorId,
        executionId,
        underwritingId: run.underwritingId,
        timeoutMs,
        slot,
        input: run.input,
        traceparent: timing.traceparent,
        [queueOptionsSymbol]: attempt,
      };
      const result = await this.#piscina.run(task, { signal: deadline });
      ranMs = result.durationMs;
      if (result.spans) this.#telemetry.adopt(result.spans);
      return { kind: 'result', result };
    } catch (err) {
      return this.#threadEnded(attempt, deadline, err);
    } finally {
      // Queue time: from asking (concurrency key, slot, thread) to the thread's start stamp.
      const startedAt = this.#table.startedAt(slot);
      timing.queueMs += Number((startedAt === 0n ? process.hrtime.bigint() : startedAt) - waitFrom) / 1e6;
      deadline.clear();
      scheduler.settled(attempt, ranMs);
      this.#table.release(slot);
    }
  }

  /**
   * Records a thread's exit code when it ends on its own (`process.exit`), for `#threadEnded`:
   * Piscina rejects the tasks of a thread that exited with an error only its text tells apart.
   * Its own 'exit' listener rejects them; this one runs in the same emit, before any rejection is
   * read. A thread that failed ('error': out of memory, say) did not end on its own; one the pool
   * ends (a deadline's abort, close) rejects its tasks before its 'exit' comes, or is closing.
   */
  #watchExit(threadId: number): void {
    const worker = this.#piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return;
    let failed = false;
    worker.once('error', () => (failed = true));
    worker.once('exit', (code: number) => {
      if (!failed && !this.#closing) this.#exitCodes.set(worker, code);
    });
  }

  /**
   * The attempt's thread ended under it. Whose fault: the attempt's own (its deadline, its
   * `process.exit`, or its heap when it ran alone), or a neighbour's (started again: elsewhere,
   * or alone when nobody can tell which run exhausted a shared heap).
   */
  #threadEnded(attempt: Attempt, deadline: Deadline, err: unknown): AttemptEnd {
    const durationMs = deadline.runTimeMs();
    if (deadline.aborted) return { kind: 'terminated', durationMs };
    if (attempt.innocent) return { kind: 'restart', durationMs, solo: false };
    const thread = attempt.thread;
    if (thread) thread.hostedAtDeath ??= thread.runs;
    const shared = (thread?.hostedAtDeath ?? 1) > 1;
    if ((err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
      if (shared) return { kind: 'restart', durationMs, solo: true };
      const error = `the processor ran out of memory (worker heap limit ${this.#options.maxHeapMb} MB)`;
      return { kind: 'thread-failed', durationMs, error };
    }
    const exitCode = thread && this.#exitCodes.get(thread.worker);
    if (exitCode !== undefined) {
      if (this.#table.has(attempt.slot, EXITED) || !shared) {
        const error = `the processor ended its worker thread with process.exit(${exitCode})`;
        return { kind: 'thread-failed', durationMs, error };
      }
      return { kind: 'restart', durationMs, solo: false };
    }
    return { kind: 'thread-failed', durationMs, error: messageOf(err) };
  }
}

/**
 * Full jitter: a random wait up to `backoffMs × 2^(n−1)`, capped at `maxBackoffMs`; a processor's
 * `retryAfterMs` is waited instead, capped the same.
 */
export function backoffMs(policy: RetryPolicy, failures: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxBackoffMs);
  const ceiling = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (failures - 1));
  return Math.random() * ceiling;
}
