/**
 * How many more events an instance may take now: a pure function of what was measured and what
 * the events in progress hold. Both transports ask it (through `admission.ts`): pull asks Pub/Sub
 * for that many, push answers 429 at once when it is 0.
 *
 * What bounds an instance (never a fixed count):
 * - **Memory.** Resident memory, plus what the events taken but not yet started will hold (their
 *   estimate), and the accounted memory of every event in progress, against the instance's limit
 *   (the cgroup's on Cloud Run): intake stops at the high-water mark and starts again below the
 *   low-water mark. The main thread's heap against its own limit, the same way. The accounts are
 *   an upper bound (an event is accounted with all its runs until its verdict, though most of its
 *   runs end sooner); they are scaled by the share of them resident memory was measured to hold
 *   (`nextShare`), so the accounts cover resident memory's lag without standing in for it.
 * - **CPU.** A run that computes waits for a CPU slot; an event is taken only while such a run
 *   would start soon (`startSoonMs`), counting the compute the events already taken will ask for.
 *   Runs that wait for a thread none can give, or for their concurrency limit, close intake.
 * - **The main thread's event-loop delay** (its 90th percentile over a second): past `lagHighMs`
 *   intake stops, below `lagLowMs` it starts again.
 *
 * With nothing in progress, one event may always be taken, so an instance never stops for good.
 */
export const ADMISSION = {
  highWater: 0.75,
  lowWater: 0.65,
  lagHighMs: 250,
  lagLowMs: 100,
  /** How long a run that computes may expect to wait for a core and still count as starting soon. */
  startSoonMs: 1_000,
} as const;

/** How the measured share of the accounts (`Holdings.share`) follows resident memory. */
export const SHARE = {
  /** The least it falls to: resident memory lags what was just taken by up to a second or so. */
  min: 0.5,
  /** Measured only while the accounts are at least this share of the limit: below, noise rules. */
  minAccounted: 0.1,
  /** How far it falls towards a lower reading, per reading (every 100 ms: over about 2 s). */
  fallWeight: 0.05,
} as const;

export type FullReason = 'memory' | 'cpu' | 'threads' | 'concurrency' | 'event-loop';

/** What was measured. */
export interface Readings {
  rssBytes: number;
  /** The instance's memory limit: the cgroup's, else the machine's. */
  limitBytes: number;
  heapUsedBytes: number;
  heapLimitBytes: number;
  /** The main thread's event-loop delay over the last window (its 90th percentile), in ms. */
  loopDelayMs: number;
  /** How long a run that computes, asked for now, would wait for a CPU slot, in ms. */
  cpuWaitMs: number;
  cpuSlots: number;
  /** Runs waiting for a thread while the pool has as many threads as it may. */
  threadless: number;
  /** Runs waiting for their concurrency limit. */
  limitWaiting: number;
}

/** What the events in progress hold. */
export interface Holdings {
  /** Events taken whose verdict is not given yet. */
  events: number;
  /** Of those, events whose runs are not asked for yet (decoding, fetching documents). */
  intake: number;
  /** Accounted memory of the events whose documents are in, in bytes. */
  accountedBytes: number;
  /** What an event is expected to hold, and to compute, from the recent ones. */
  perEventBytes: number;
  perEventCpuMs: number;
  /** Resident memory with no event in progress (the process itself, its threads). */
  idleRssBytes: number;
  /**
   * The share of the accounts resident memory was found to hold (`nextShare`, `SHARE.min`–1):
   * the accounts and estimates are counted at it.
   */
  share: number;
}

export interface Verdict {
  /** Events that may be taken now. */
  room: number;
  /** Why there is no room (when `room` is 0). */
  reason: FullReason | undefined;
  /** What stopped intake until it is under its low mark again (hysteresis). */
  stopped: 'memory' | 'event-loop' | undefined;
}

/** The room now, given what was measured, what is held, and what stopped intake before. */
export function evaluate(r: Readings, h: Holdings, stopped: Verdict['stopped']): Verdict {
  const memory = memoryRoom(r, h, stopped === 'memory');
  const lagOver = r.loopDelayMs >= (stopped === 'event-loop' ? ADMISSION.lagLowMs : ADMISSION.lagHighMs);
  const nowStopped = memory.over ? 'memory' : lagOver ? 'event-loop' : undefined;
  const bounds: [FullReason, number][] = [
    ['memory', memory.room],
    ['event-loop', lagOver ? 0 : Infinity],
    ['threads', r.threadless > 0 ? 0 : Infinity],
    ['concurrency', r.limitWaiting > 0 ? 0 : Infinity],
    ['cpu', cpuRoom(r, h)],
  ];
  let room = Infinity;
  let reason: FullReason | undefined;
  for (const [why, n] of bounds) {
    if (n < room) [room, reason] = [Math.max(0, Math.floor(n)), why];
  }
  // Progress: with nothing in progress, one event is always taken.
  if (h.events === 0 && room === 0) room = 1;
  return { room, reason: room === 0 ? reason : undefined, stopped: nowStopped };
}

/**
 * Intake stops once one more event would reach the high-water mark, and starts again once what
 * is used is below the low-water mark.
 */
function memoryRoom(r: Readings, h: Holdings, wasStopped: boolean): { room: number; over: boolean } {
  const perEvent = Math.max(1, h.share * h.perEventBytes);
  // Resident memory lags what was just handed to the threads; the accounts do not.
  const used = Math.max(r.rssBytes, h.idleRssBytes + h.share * h.accountedBytes) + h.intake * perEvent;
  const high = ADMISSION.highWater * r.limitBytes;
  const heapHigh = ADMISSION.highWater * r.heapLimitBytes;
  const over = wasStopped
    ? used >= ADMISSION.lowWater * r.limitBytes || r.heapUsedBytes >= ADMISSION.lowWater * r.heapLimitBytes
    : used + perEvent >= high || r.heapUsedBytes >= heapHigh;
  return { room: over ? 0 : (high - used) / perEvent, over };
}

function cpuRoom(r: Readings, h: Holdings): number {
  if (h.perEventCpuMs <= 0) return r.cpuWaitMs > ADMISSION.startSoonMs ? 0 : Infinity;
  // The compute the events in intake will ask for is queued ahead of the next one's.
  const waitMs = r.cpuWaitMs + (h.intake * h.perEventCpuMs) / r.cpuSlots;
  return ((ADMISSION.startSoonMs - waitMs) * r.cpuSlots) / h.perEventCpuMs;
}

/**
 * The share of the accounts resident memory holds, after a reading: what resident memory grew by
 * since idle, over the accounts. It rises at once to a higher reading and falls over about two
 * seconds to a lower one (a reading just after events were taken lags them), also while intake is
 * stopped for memory: resident memory, read every 100 ms, bounds what is counted as used from
 * below whatever the share, so a lower share never takes past what is resident; it only stops the
 * accounts from reserving memory the events do not use. It is never above 1 (resident memory
 * above the accounts counts as itself) nor below `SHARE.min`. Unchanged while the accounts are too
 * small to tell from resident memory's noise.
 */
export function nextShare(
  share: number,
  rssBytes: number,
  h: Pick<Holdings, 'accountedBytes' | 'idleRssBytes'>,
  limitBytes: number,
): number {
  if (h.accountedBytes < SHARE.minAccounted * limitBytes) return share;
  const measured = Math.min(1, Math.max(SHARE.min, (rssBytes - h.idleRssBytes) / h.accountedBytes));
  if (measured >= share) return measured;
  return share + SHARE.fallWeight * (measured - share);
}
