import { fileURLToPath } from 'node:url';

import { Piscina } from 'piscina';

import type { Factors } from '../events/processing-completed.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logging.js';
import { newExecutionId } from './execution-id.js';
import { createStartTable, type StartTable } from './start-table.js';
import type { PoolTask, PoolWorkerData, WorkerOutcome } from './task.js';

/** One processor run, as the orchestrator asks for it. */
export interface ProcessorRun {
  file: string;
  processorId: string;
  underwritingId: string;
  timeoutMs: number;
  /** `{ documents, missingDocuments }` as JSON: serialize once per event, share it across runs. */
  input: string;
}

/** The outcome of a run. `durationMs` is run time, excluding any wait in the queue. */
export type RunOutcome = { processorId: string; executionId: string; durationMs: number } & (
  | { status: 'completed'; factors: Factors }
  | { status: 'failed'; error: string }
  | {
      status: 'timeout';
      timeoutMs: number;
      /**
       * What ended it: `signal`, it settled after `ctx.signal` aborted, within the grace (its
       * thread is kept); `terminated`, its thread was ended (it ignored the signal past the
       * grace, or a busy loop kept the signal from reaching it).
       */
      phase: TimeoutPhase;
    }
);

export type TimeoutPhase = 'signal' | 'terminated';

export interface PoolOptions {
  /** Worker threads, started up front and kept: a thread spawn costs tens of milliseconds. */
  threads: number;
  /** Heap limit of each thread (old generation), in MB. */
  maxHeapMb: number;
  /**
   * How long a run whose thread has aborted `ctx.signal` at the deadline may take to settle
   * before the thread is terminated anyway.
   */
  timeoutGraceMs: number;
  logLevel: string;
  log: Logger;
}

const NS_PER_MS = 1_000_000n;

// At its deadline a thread's own timer aborts `ctx.signal`; if it has not done so this long after
// the deadline, its event loop is blocked (a busy loop) and no signal can reach the processor.
const SIGNAL_WINDOW_MS = 5;

// Running from source (vitest, tsx), the thread entry is TypeScript too.
const fromSource = import.meta.url.endsWith('.ts');
// A path, not a URL: Piscina converts a URL back to a path on every run.
const workerFile = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url));

/**
 * The one Piscina pool every processor runs in, each run under its own deadline counted from the
 * moment it starts running in a thread. At the deadline `ctx.signal` aborts; a run that has not
 * settled within the grace (at once, if its thread's event loop is blocked) has its thread
 * terminated and replaced. No other run is affected. `run` never rejects: every outcome is a value.
 */
export class ProcessorPool {
  readonly #piscina: Piscina<PoolTask, WorkerOutcome>;
  readonly #starts: StartTable;
  readonly #options: PoolOptions;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#starts = createStartTable();
    const workerData: PoolWorkerData = { startTable: this.#starts.buffer, logLevel: options.logLevel };
    this.#piscina = new Piscina({
      filename: workerFile,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      // Piscina's run-time and wait-time histograms cost every task; nothing reads them.
      recordTiming: false,
      // Wait for tasks with Atomics.waitAsync: the thread's event loop keeps turning between
      // tasks, so callbacks a processor left behind settle there and not inside the next task.
      atomics: 'async',
      resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      workerData,
    });
    // A thread that fails between tasks (e.g. out of memory from a leftover callback) is
    // replaced by Piscina; without a listener the 'error' event would end the process.
    this.#piscina.on('error', (err: unknown) => {
      options.log.error({ err }, 'a worker thread failed outside any task; it was replaced');
    });
  }

  /** Resolves once every thread has started and loaded its entry module. */
  async warm(): Promise<void> {
    await Promise.all(
      Array.from({ length: this.#options.threads }, () =>
        this.#piscina.run(undefined as never, { name: 'hold' }),
      ),
    );
  }

  async run(run: ProcessorRun): Promise<RunOutcome> {
    const executionId = newExecutionId();
    const slotOrWait = this.#starts.acquire();
    const slot = typeof slotOrWait === 'number' ? slotOrWait : await slotOrWait;
    const deadline = new Deadline(this.#starts, slot, run.timeoutMs, this.#options.timeoutGraceMs);
    const base = { processorId: run.processorId, executionId };
    try {
      // A literal with a fixed shape: V8 clones it for postMessage markedly faster than a spread.
      const task: PoolTask = {
        file: run.file,
        processorId: run.processorId,
        executionId,
        underwritingId: run.underwritingId,
        timeoutMs: run.timeoutMs,
        slot,
        input: run.input,
      };
      const outcome = await this.#piscina.run(task, { signal: deadline });
      if (outcome.status === 'timeout') return { ...base, ...outcome, timeoutMs: run.timeoutMs };
      return { ...base, ...outcome };
    } catch (err) {
      const durationMs = deadline.runTimeMs();
      if (deadline.aborted) {
        return { ...base, status: 'timeout', timeoutMs: run.timeoutMs, phase: 'terminated', durationMs };
      }
      return { ...base, status: 'failed', error: this.#describeThreadFailure(err), durationMs };
    } finally {
      deadline.clear();
      this.#starts.release(slot);
    }
  }

  async close(): Promise<void> {
    await this.#piscina.destroy();
  }

  #describeThreadFailure(err: unknown): string {
    if ((err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return `the processor ran out of memory (worker heap limit ${this.#options.maxHeapMb} MB)`;
    }
    const exit = /^worker exited with code: (-?\d+)/.exec(messageOf(err));
    if (exit) return `the processor ended its worker thread with process.exit(${exit[1]})`;
    return messageOf(err);
  }
}

/**
 * A run's deadline, in the shape of Piscina's event-emitter signal (cheaper than an
 * AbortSignal per task). Its timer first fires at the earliest moment the deadline can be due;
 * the start table then says whether the run had started and when, and the timer is re-armed
 * until the run has really been running for `timeoutMs`. Then the thread is terminated: at once
 * if its event loop is blocked, else after the grace given to a processor that honours
 * `ctx.signal` (one that settles in time is TIMEOUT too, and keeps its thread).
 */
class Deadline {
  aborted = false;
  readonly reason = 'deadline';
  #listener: (() => void) | undefined;
  #timer: NodeJS.Timeout;

  constructor(
    private readonly starts: StartTable,
    private readonly slot: number,
    private readonly timeoutMs: number,
    private readonly graceMs: number,
  ) {
    this.#timer = setTimeout(this.#check, timeoutMs);
  }

  once(_event: 'abort', listener: () => void): void {
    this.#listener = listener;
  }

  off(_event: 'abort', _listener: () => void): void {
    this.#listener = undefined;
  }

  // What Piscina 5.3 calls at run time, although its types name `off`.
  removeListener(event: 'abort', listener: () => void): void {
    this.off(event, listener);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }

  /** How long the run has been running, 0 if it never started. */
  runTimeMs(): number {
    const started = this.starts.startedAt(this.slot);
    return started === 0n ? 0 : Number(process.hrtime.bigint() - started) / 1e6;
  }

  #check = (): void => {
    const started = this.starts.startedAt(this.slot);
    if (started === 0n) {
      // Still queued: it cannot be due before it has run for timeoutMs from now.
      this.#arm(this.timeoutMs);
      return;
    }
    const overdueMs = Number(process.hrtime.bigint() - started - BigInt(this.timeoutMs) * NS_PER_MS) / 1e6;
    if (overdueMs < 0) return this.#arm(-overdueMs);
    const allowedMs = this.starts.signalled(this.slot) ? this.graceMs : SIGNAL_WINDOW_MS;
    if (overdueMs < allowedMs) return this.#arm(allowedMs - overdueMs);
    this.aborted = true;
    this.#listener?.();
  };

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#check, Math.ceil(ms));
  }
}
