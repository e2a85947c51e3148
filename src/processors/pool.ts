import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';

import type { Logger } from '../logging.js';
import { noTelemetry, type Telemetry } from '../telemetry/telemetry.js';
import { spanTraceparent } from '../telemetry/trace-context.js';
import type { ConcurrencyPolicy, RetryPolicy } from './contract.js';
import { Deadline } from './deadline.js';
import { newExecutionId } from './execution-id.js';
import { FOOTPRINT, threadInputBytes } from './footprint.js';
import { createLimits } from './limits.js';
import {
  firstAttempt,
  nextStep,
  outcomeOf,
  threadEnded,
  type AttemptEnd,
  type RunState,
} from './next-step.js';
import { createThreadPool, type ThreadPool } from './piscina-adapter.js';
import type { EncodedInput, RunOutcome, ThreadData, ThreadResult, ThreadTask } from './run.js';
import { createRunTable, EXITED, type RunTable } from './run-table.js';
import { createScheduler, type Attempt, type Scheduler } from './scheduler.js';
import { threadIdleMs } from './thread-table.js';

/** One processor run, as the orchestrator asks for it. */
export interface ProcessorRun {
  file: string;
  processorId: string;
  underwritingId: string;
  timeoutMs: number;
  /** `encodeInput` of the event's documents: encoded once per event, shared by its runs. */
  input: EncodedInput;
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
/** Idle threads above the minimum end after this long. */
const IDLE_THREAD_MS = 30_000;

// Running from source (vitest, tsx), the thread entry is TypeScript too.
const fromSource = import.meta.url.endsWith('.ts');
// A path, not a URL: Piscina converts a URL back to a path on every run.
const workerFile = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url));

/**
 * No `require()` of an ES module in the threads. Node aborts the whole process when a thread is
 * ended while `require()` loads an ES module (a V8 check in its require(esm) path; ending threads
 * that require modules reproduces it on Node 20.20 within 30 s), and ending threads is how
 * deadlines and shutdown work. Without it Piscina loads `worker.js` with `import()`, its fallback,
 * which ending a thread does not break, and a processor that `require()`s an ES module gets Node's
 * `ERR_REQUIRE_ESM`: one FAILED line, as on Node before 20.19.
 */
const THREAD_NODE_FLAGS = ['--no-experimental-require-module'];

/** What a run's span needs from its attempts. */
interface Timing {
  /** Queue time so far, over every attempt. */
  queueMs: number;
  /** The run span's context, handed to each attempt's thread. */
  traceparent: string | undefined;
}

/**
 * The one pool of worker threads every processor runs in (Piscina, behind `piscina-adapter.ts`).
 * Each run is admitted by the scheduler (runs that wait share threads and all start at once; runs
 * that compute get about a core each), runs under its own deadline counted from when it really
 * starts (see `deadline.ts`), and after each attempt takes the step `nextStep` (`next-step.ts`)
 * says: over, retried by its processor's policy, or started again elsewhere, with the time it has
 * left, when a neighbour ended the thread they shared. `run` never rejects: every outcome is a value.
 */
export class ProcessorPool {
  readonly #threads: ThreadPool<ThreadTask, ThreadResult, Attempt>;
  readonly #table: RunTable;
  readonly #scheduler: Scheduler;
  readonly #limits = createLimits();
  readonly #options: PoolOptions;
  readonly #cpuSlots: number;
  readonly #telemetry: NonNullable<PoolOptions['telemetry']>;

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
      threads: () => this.#threads.threads(),
      spawn: () => void this.#threads.hold().catch(() => {}),
    });
    this.#threads = createThreadPool<ThreadTask, ThreadResult, Attempt>({
      file: workerFile,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeoutMs: IDLE_THREAD_MS,
      maxHeapMb: options.maxHeapMb,
      execArgv: [...(fromSource ? ['--import', 'tsx'] : []), ...THREAD_NODE_FLAGS],
      workerData,
      place: (attempt, threads) => this.#scheduler.place(attempt, threads),
      threadReady: (id) => this.#scheduler.threadReady(id),
      threadGone: () => this.#scheduler.threadGone(),
      threadFailed: (err) =>
        options.log.error({ err }, 'a worker thread failed outside any task; it was replaced'),
    });
  }

  /** Resolves once the minimum threads have started and loaded their entry module. */
  async warm(): Promise<void> {
    await Promise.all(Array.from({ length: this.#options.minThreads }, () => this.#threads.hold()));
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
    let state = firstAttempt(run.timeoutMs);
    for (;;) {
      const attempt = state;
      const waitFrom = process.hrtime.bigint();
      const end = await this.#limited(run, () => this.#attempt(run, executionId, attempt, waitFrom, timing));
      const step = nextStep(attempt, end, run, Math.random());
      if (step.action === 'finish') return outcomeOf(step, { ...run, executionId });
      if (step.action === 'retry') await sleep(step.waitMs);
      state = step.state;
    }
  }

  async close(): Promise<void> {
    this.#scheduler.close();
    await this.#threads.destroy();
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
    { timeLeftMs: timeoutMs, solo }: RunState,
    waitFrom: bigint,
    timing: Timing,
  ): Promise<AttemptEnd> {
    const slotOrWait = this.#table.acquire();
    const slot = typeof slotOrWait === 'number' ? slotOrWait : await slotOrWait;
    const attempt: Attempt = {
      slot,
      processorId: run.processorId,
      isolated: solo,
      bytes: FOOTPRINT.runBaseBytes,
      input: { key: run.input.key, bytes: threadInputBytes(run.input.shared.byteLength) },
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
      threadIdleMs: () => threadIdleMs(attempt),
      beforeAbort: () => {
        for (const other of attempt.thread?.attempts ?? []) if (other !== attempt) other.innocent = true;
      },
    });
    let ranMs: number | undefined;
    try {
      await scheduler.admit(attempt);
      // A literal with a fixed shape: V8 clones it for postMessage markedly faster than a spread.
      const task: ThreadTask = {
        file: run.file,
        processorId: run.processorId,
        executionId,
        underwritingId: run.underwritingId,
        timeoutMs,
        slot,
        input: run.input,
        traceparent: timing.traceparent,
      };
      const result = await this.#threads.run(task, attempt, deadline);
      // What the processor did is learnt from its own time (its CPU time when known), not its
      // thread's decoding of the documents.
      ranMs = result.cpuMs ?? result.durationMs - (result.readMs ?? 0);
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

  /** The attempt's thread ended under it: whose fault (see `threadEnded`). */
  #threadEnded(attempt: Attempt, deadline: Deadline, err: unknown): AttemptEnd {
    const thread = attempt.thread;
    // Frozen at the first failure seen on the thread, by a run that did not end it.
    if (thread && !deadline.aborted && !attempt.innocent) thread.hostedAtDeath ??= thread.runs;
    return threadEnded({
      aborted: deadline.aborted,
      innocent: attempt.innocent,
      hosted: thread?.hostedAtDeath ?? 1,
      calledExit: this.#table.has(attempt.slot, EXITED),
      end: this.#threads.whyEnded(err, thread?.worker),
      durationMs: deadline.runTimeMs(),
      maxHeapMb: this.#options.maxHeapMb,
    });
  }
}
