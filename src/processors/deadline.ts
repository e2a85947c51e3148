import { type RunTable, SIGNALLED } from './run-table.js';

/**
 * A run's deadline, and how a TIMEOUT is told apart: the whole protocol is here.
 *
 * 1. The worker thread stamps the run table when the attempt starts running; the deadline counts
 *    from that stamp, never from a wait in a queue. Until it is stamped, the pool's timer re-arms.
 * 2. At the deadline the thread's own timer aborts `ctx.signal` and raises SIGNALLED. Its event
 *    loop is turning, so the processor earns the grace (`timeoutGraceMs`) to settle: one that does
 *    is TIMEOUT in the `signal` phase and keeps its thread.
 * 3. The pool's timer fires at the same deadline. Without SIGNALLED it asks whether the thread's
 *    event loop is blocked or only late (a loaded CPU delays every thread's timers): a loop that
 *    waits in the kernel accrues idle time (`eventLoopUtilization`), a busy loop accrues none. Idle
 *    time that grows means the thread will signal when it gets the CPU; none at all for
 *    `BLOCKED_MS` means no signal can reach the processor, and the thread is terminated at once.
 *    No fixed window of a few milliseconds decides it, so load cannot turn a cooperative run into
 *    a terminated one.
 * 4. Past the grace, or blocked, the pool aborts: Piscina terminates the thread and starts a new
 *    one. The run is TIMEOUT in the `terminated` phase; `beforeAbort` lets the pool restart the
 *    other runs the thread hosted, which did nothing wrong.
 *
 * The object has the shape of Piscina's event-emitter signal (cheaper than an AbortSignal).
 */
export class Deadline {
  aborted = false;
  readonly reason = 'deadline';
  #listener: (() => void) | undefined;
  #timer: NodeJS.Timeout;
  #probe: { idleMs: number; at: number } | undefined;

  constructor(
    private readonly table: RunTable,
    private readonly slot: number,
    private readonly timeoutMs: number,
    private readonly graceMs: number,
    /** Total idle time of the attempt's thread so far, in ms; undefined before it is placed. */
    private readonly threadIdleMs: () => number | undefined,
    private readonly beforeAbort: () => void,
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
    if (this.table.has(this.slot, SIGNALLED)) return this.#arm(this.graceMs - overdueMs);
    const idleMs = this.threadIdleMs() ?? 0;
    const now = performance.now();
    if (this.#probe === undefined || idleMs > this.#probe.idleMs) {
      // First look, or the loop waited since the last one: it is alive; look again shortly.
      this.#probe = { idleMs, at: now };
      return this.#arm(PROBE_MS);
    }
    if (now - this.#probe.at >= BLOCKED_MS) return this.#abort();
    this.#arm(PROBE_MS);
  };

  #abort(): void {
    this.aborted = true;
    this.beforeAbort();
    this.#listener?.();
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#check, Math.ceil(ms));
  }
}

/** How often a late thread is looked at. */
const PROBE_MS = 2;
/**
 * How long a thread's event loop may show no idle time at all past a deadline it has not signalled
 * before it is taken as blocked. Longer than a loaded scheduler keeps a runnable thread off the CPU.
 */
export const BLOCKED_MS = 12;
