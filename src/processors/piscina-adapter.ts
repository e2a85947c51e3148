import type { Worker } from 'node:worker_threads';

import { Piscina, queueOptionsSymbol } from 'piscina';

import { messageOf } from '../errors.js';

/**
 * Everything the pool needs from Piscina, and nothing else of it: the pool, the scheduler and the
 * deadline speak to `ThreadPool`, so Piscina's options, its load-balancer hook, its events, the
 * shape of its abort signal and of its rejections are known here only. The thread side is
 * `worker.ts` (one exported function per task name, as Piscina expects; it does not import Piscina).
 */

/** A thread as the load balancer sees it. */
export interface BalancedThread {
  readonly id: number;
  /** Tasks Piscina has handed it and not seen settle. */
  readonly currentUsage: number;
}

/** What may end a task early: the deadline (`deadline.ts`). */
export interface Abortable {
  readonly aborted: boolean;
  /** Sets (or, with undefined, removes) the one listener called when it aborts. */
  onAbort(listener: (() => void) | undefined): void;
}

/** Why a task's thread ended under it, read from the task's rejection and the thread's exit. */
export type ThreadEnd =
  | { cause: 'out-of-memory' }
  /** The thread ended on its own (`process.exit` in some run), with this code. */
  | { cause: 'exit'; code: number }
  | { cause: 'error'; message: string };

export interface ThreadPoolOptions<Ticket> {
  /** The thread entry (a path). */
  file: string;
  minThreads: number;
  maxThreads: number;
  /** Idle threads above the minimum end after this long. */
  idleTimeoutMs: number;
  /** Heap limit of each thread (old generation), in MB. */
  maxHeapMb: number;
  execArgv: string[];
  workerData: unknown;
  /**
   * Chooses the thread for a task (`ticket`: what `run` was given; null for a `hold` task) among
   * the threads that can take one now; null leaves it queued, or starts a thread if there is room.
   */
  place<W extends BalancedThread>(ticket: Ticket | null, threads: readonly W[]): W | null;
  /** A thread started and can take tasks. */
  threadReady(id: number): void;
  /** A thread ended (it is gone from `threads()` by now). */
  threadGone(): void;
  /** A thread failed between tasks (out of memory from a leftover callback, say); it was replaced. */
  threadFailed(err: unknown): void;
}

export interface ThreadPool<Task, Result, Ticket> {
  /** One task on the thread `place` chooses for `ticket`; rejects if its thread ends under it. */
  run(task: Task, ticket: Ticket, abort: Abortable): Promise<Result>;
  /** A task that only takes a thread for a moment: it warms a thread, or has Piscina start one. */
  hold(): Promise<void>;
  /** The live threads, started or starting. */
  threads(): readonly Worker[];
  /** Why the thread `worker` ended under a task that rejected with `err`. */
  whyEnded(err: unknown, worker: Worker | undefined): ThreadEnd;
  destroy(): Promise<void>;
}

/**
 * Piscina's own per-thread cap: the scheduler places every task itself (heap and event-loop bound),
 * so this only has to stay out of its way.
 */
const TASKS_PER_THREAD = 1_000_000;

export function createThreadPool<Task extends object, Result, Ticket extends object>(
  options: ThreadPoolOptions<Ticket>,
): ThreadPool<Task, Result, Ticket> {
  /** Threads that exited on their own (`process.exit`), by their exit code. */
  const exitCodes = new WeakMap<Worker, number>();
  let closing = false;
  const piscina: Piscina<Task | undefined, Result> = new Piscina({
    filename: options.file,
    minThreads: options.minThreads,
    maxThreads: options.maxThreads,
    idleTimeout: options.idleTimeoutMs,
    concurrentTasksPerWorker: TASKS_PER_THREAD,
    loadBalancer: (task, workers) =>
      options.place((task[queueOptionsSymbol] as Ticket | null | undefined) ?? null, workers),
    // Piscina's run-time and wait-time histograms cost every task; nothing reads them.
    recordTiming: false,
    // Wait for tasks with Atomics.waitAsync: the thread's event loop keeps turning between
    // tasks, so callbacks a processor left behind settle there and not inside the next task.
    atomics: 'async',
    resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb },
    execArgv: options.execArgv,
    workerData: options.workerData,
  });

  /**
   * Records a thread's exit code when it ends on its own (`process.exit`), for `whyEnded`: Piscina
   * rejects the tasks of a thread that exited with an error only its text tells apart. Its own
   * 'exit' listener rejects them; this one runs in the same emit, before any rejection is read. A
   * thread that failed ('error': out of memory, say) did not end on its own; one the pool ends (a
   * deadline's abort, destroy) rejects its tasks before its 'exit' comes, or is closing.
   */
  function watchExit(threadId: number): void {
    const worker = piscina.threads.find((w) => w.threadId === threadId);
    if (!worker) return;
    let failed = false;
    worker.once('error', () => (failed = true));
    worker.once('exit', (code: number) => {
      if (!failed && !closing) exitCodes.set(worker, code);
    });
  }

  piscina.on('workerCreate', (worker: { id: number }) => {
    watchExit(worker.id);
    options.threadReady(worker.id);
  });
  // Piscina emits it before it drops the thread from its list: look once it has.
  piscina.on('workerDestroy', () => queueMicrotask(() => options.threadGone()));
  // Piscina replaces a thread that fails between tasks; without a listener the 'error' event would
  // end the process.
  piscina.on('error', (err: unknown) => options.threadFailed(err));

  return {
    run(task, ticket, abort) {
      // Symbol keys do not cross to the thread: the ticket stays here, for the load balancer.
      (task as Task & { [queueOptionsSymbol]?: Ticket })[queueOptionsSymbol] = ticket;
      return piscina.run(task, { signal: piscinaSignal(abort) });
    },
    async hold() {
      // With a signal: see `NEVER`.
      await piscina.run(undefined, { name: 'hold', signal: NEVER });
    },
    threads: () => piscina.threads,
    whyEnded(err, worker) {
      if ((err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') return { cause: 'out-of-memory' };
      const code = worker && exitCodes.get(worker);
      if (code !== undefined) return { cause: 'exit', code };
      return { cause: 'error', message: messageOf(err) };
    },
    destroy() {
      closing = true;
      return piscina.destroy();
    },
  };
}

/**
 * The signal of a helper task, which nothing aborts. A helper task the load balancer refuses (to
 * have a thread started) waits in Piscina's queue until that thread is ready, and Piscina 5.3
 * starts another thread for every task submitted while a task without a signal waits there (its
 * "eager spawn"): a burst of attempts during one thread's start would start threads up to the
 * most, beside the scheduler's one at a time. A task with a signal waits in the queue Piscina
 * does not look at for that.
 */
const NEVER = { aborted: false, once: () => {}, off: () => {}, removeListener: () => {} };

/** Piscina's event-emitter signal (cheaper than an AbortSignal) over an `Abortable`. */
function piscinaSignal(abort: Abortable) {
  return {
    get aborted() {
      return abort.aborted;
    },
    reason: 'deadline',
    once: (_event: 'abort', listener: () => void) => abort.onAbort(listener),
    off: () => abort.onAbort(undefined),
    // What Piscina 5.3 calls at run time, although its types name `off`.
    removeListener: () => abort.onAbort(undefined),
  };
}
