import type { Abortable } from './piscina-adapter.js';
import { EXECUTING, type RunTable, SETTLED, SIGNALLED, threadCpuMs } from './run-table.js';

/**
 * A run's deadline, and how a TIMEOUT is told apart: the whole protocol is here.
 *
 * 1. The worker thread stamps the run table when the attempt starts running, and again once the
 *    plugin's module is loaded (a first run on a fresh thread imports it: the thread's cost, not
 *    the run's) and its `execute` called (EXECUTING); the deadline counts from the latest stamp,
 *    never from a wait in a queue. Until it is stamped, the pool's timer re-arms; a load that
 *    outlives the deadline is waited for up to the grace, then its thread is ended.
 * 2. At the deadline the thread's own timer aborts `ctx.signal` and raises SIGNALLED. Its event
 *    loop is turning, so the processor earns the grace (`timeoutGraceMs`) to settle: one that does
 *    is TIMEOUT in the `signal` phase and keeps its thread. A thread that raised SETTLED (its
 *    answer is made, and only the pool, kept off the CPU, has not read it yet) is waited for too.
 * 3. The pool's timer fires at the same deadline. Without SIGNALLED it asks whether the thread's
 *    event loop is blocked or only late (a loaded CPU delays every thread's timers). On Linux it
 *    reads the CPU time the thread has run since (`/proc/self/task/TID/schedstat`): a live loop
 *    fires its timer within a fraction of a millisecond of CPU, so `BLOCKED_CPU_MS` of CPU with no
 *    signal means a busy loop, while a thread kept off the CPU by load consumes none and is waited
 *    for. Elsewhere, the thread's event-loop idle time stands in: a loop waiting in the kernel
 *    accrues idle time, a busy loop none for `BLOCKED_MS`. Wall time past the deadline decides
 *    nothing, so load cannot turn a cooperative run into a terminated one.
 * 4. Past the grace, or blocked, the pool aborts: the thread pool terminates the thread and starts
 *    a new one. The run is TIMEOUT in the `terminated` phase; `beforeAbort` lets the pool restart the
 *    other runs the thread hosted, which did nothing wrong.
 *
 * It is the `Abortable` the thread pool (`piscina-adapter.ts`) is given with the attempt's task.
 */
export interface DeadlineOptions {
  /** The run table the attempt's thread stamps. */
  table: RunTable;
  /** The attempt's slot in it. */
  slot: number;
  /** How long the attempt may run, counted from its latest start stamp. */
  timeoutMs: number;
  /** How long past the deadline a signalled (or loading) attempt may take to settle. */
  graceMs: number;
  /** Total idle time of the attempt's thread so far, in ms; undefined before it is placed. */
  threadIdleMs: () => number | undefined;
  /** Called just before the abort ends the thread (the pool restarts its other runs). */
  beforeAbort: () => void;
}

export class Deadline implements Abortable {
  aborted = false;
  #listener: (() => void) | undefined;
  #timer: NodeJS.Timeout;
  #cleared = false;
  #probe: { cpuMs: number | undefined; idleMs: number; at: number } | undefined;
  private readonly table: RunTable;
  private readonly slot: number;
  private readonly timeoutMs: number;
  private readonly graceMs: number;
  private readonly threadIdleMs: () => number | undefined;
  private readonly beforeAbort: () => void;

  constructor(options: DeadlineOptions) {
    this.table = options.table;
    this.slot = options.slot;
    this.timeoutMs = options.timeoutMs;
    this.graceMs = options.graceMs;
    this.threadIdleMs = options.threadIdleMs;
    this.beforeAbort = options.beforeAbort;
    this.#timer = setTimeout(this.#check, this.timeoutMs);
  }

  /** Sets (or removes) the one listener the abort calls: the thread pool's (`piscina-adapter.ts`). */
  onAbort(listener: (() => void) | undefined): void {
    this.#listener = listener;
  }

  clear(): void {
    this.#cleared = true;
    clearTimeout(this.#timer);
  }

  /** How long the attempt has been running, 0 if it never started. */
  runTimeMs(): number {
    const started = this.table.startedAt(this.slot);
    return started === 0n ? 0 : Number(process.hrtime.bigint() - started) / 1e6;
  }

  #check = (): void => {
    const started = this.table.startedAt(this.slot);
    // Still queued: it cannot be due before it has run for timeoutMs from now.
    if (started === 0n) return this.#arm(this.timeoutMs);
    const overdueMs = Number(process.hrtime.bigint() - started) / 1e6 - this.timeoutMs;
    if (overdueMs < 0) return this.#arm(-overdueMs);
    if (overdueMs >= this.graceMs) return this.#abort();
    // Still loading its plugin (slow on a busy machine, and not the run's time): wait for the
    // restamp that follows, up to the grace past the deadline counted from the first stamp.
    if (!this.table.has(this.slot, EXECUTING)) return this.#arm(Math.min(PROBE_MS, this.graceMs - overdueMs));
    // Signalled, or answered already (the answer is on its way): alive, it earns the grace.
    if (this.table.has(this.slot, SIGNALLED | SETTLED)) return this.#arm(this.graceMs - overdueMs);
    const cpuMs = threadCpuMs(this.table.tid(this.slot));
    const idleMs = this.threadIdleMs() ?? 0;
    const now = performance.now();
    const probe = this.#probe;
    if (probe === undefined) {
      this.#probe = { cpuMs, idleMs, at: now };
      return this.#arm(PROBE_MS);
    }
    if (cpuMs !== undefined && probe.cpuMs !== undefined) {
      return cpuMs - probe.cpuMs >= BLOCKED_CPU_MS ? this.#abort() : this.#arm(PROBE_MS);
    }
    // No CPU clock: a loop that waited since the last look is alive; look again shortly.
    if (idleMs > probe.idleMs) this.#probe = { cpuMs, idleMs, at: now };
    else if (now - probe.at >= BLOCKED_MS) return this.#abort();
    this.#arm(PROBE_MS);
  };

  #abort(): void {
    // After one turn of the event loop: when this thread was itself kept off the CPU, the timers
    // run before the messages that came meanwhile, and the run's own answer may be one of them.
    setImmediate(() => {
      if (this.#cleared) return;
      this.aborted = true;
      this.beforeAbort();
      this.#listener?.();
    });
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#check, Math.ceil(ms));
  }
}

/** How often a late thread is looked at. */
const PROBE_MS = 1;
/**
 * CPU time a thread may run past a deadline it has not signalled before it is taken as blocked. A
 * live loop fires its timer within a fraction of a millisecond of CPU; this leaves room for a
 * scavenge or a short synchronous step at the deadline, and is most of a busy loop's lateness.
 */
export const BLOCKED_CPU_MS = 5;
/**
 * Without a CPU clock: how long a thread's event loop may show no idle time at all past a deadline
 * it has not signalled before it is taken as blocked.
 */
export const BLOCKED_MS = 12;
