/**
 * Where an attempt runs, decided from a view of the threads: pure functions, no threads or timers
 * (the scheduler is their shell). The rules:
 *
 * - A CPU slot (there are as many as cores) is held by every thread that hosts a run not yet read
 *   (`probe` or `alone`, until the first reading of what it does), that computes now (`hot`), or
 *   that hosts short runs. So runs that compute never outnumber the cores.
 * - `share` (its processor is known to wait): no slot; of the threads with room, one that holds its
 *   event's documents already, else the fullest. Room is measured, not counted: the thread is not
 *   computing, and the memory its runs hold stays within its heap budget, where a thread holds one
 *   parse of an event's documents for all the runs it hosts of that event. Runs that wait are
 *   cheap: a thread holds hundreds.
 * - `probe` (its processor was never read): a slot; an empty thread, else the least busy thread
 *   whose runs all wait (at most one probe a thread, so a thread that turns hot names its prober).
 *   So a new instance's first event starts its waiting processors at once, without a thread each.
 * - `alone` (known to compute, or isolated after a shared heap ran out): a slot and an empty thread.
 *   An isolated run's thread takes nobody else while it is there.
 * - `short` (runs that end within milliseconds): a thread of short runs with room, else an empty
 *   thread, which then holds one slot for all of them. One of an event with large documents goes
 *   first to a thread that parsed them for the event's waiting runs, so they are parsed once.
 *
 * With no thread, the attempt waits while a new one is started for it (one at a time, so a burst
 * does not start a thread per run), up to the most threads.
 */

/**
 * An input a thread holds at this many bytes or more (`InputAsk.bytes`: about 85 KiB of documents)
 * is parsed once for a short run too: the run goes where the event's waiting runs parsed it.
 */
export const SHARED_PARSE_BYTES = 256 * 1024;

/** How an attempt must be placed, from what is known of its processor. */
export type Mode = 'probe' | 'alone' | 'share' | 'short';

/** What the scheduler knows of a processor: nothing yet, or what its runs were read to do. */
export type Kind = 'io' | 'cpu' | 'short';

/** Most short runs a thread is fed at once (as Piscina feeds a thread, rather than one per round trip). */
export const SHORT_DEPTH = 4;

/** One thread as placement sees it. */
export interface ThreadView {
  readonly id: number;
  /** Runs it hosts now. */
  runs: number;
  /** Its event loop is busy (smoothed utilization at or above the threshold) while it hosts runs. */
  hot: boolean;
  /** Hosts a run that must be alone: it takes nobody else. */
  closed: boolean;
  /** Hosts a run not yet read (a probe, or a run that must start alone). */
  unread: boolean;
  /** How many of its runs are short. */
  short: number;
  /** Memory its runs hold (their own state, and one parse of each input they read), in bytes. */
  heldBytes: number;
  /** How many of its runs hold each input (by `InputAsk.key`). */
  inputs: Map<string, number>;
}

export interface PlacementView {
  /** Threads that are ready to take tasks. */
  threads: ThreadView[];
  /** CPU slots: how many runs may compute at once. */
  cpuSlots: number;
  /** Threads ready or starting. */
  liveThreads: number;
  maxThreads: number;
  /** Memory the runs of one thread may hold, in bytes (a share of its heap limit). */
  threadBudgetBytes: number;
}

/** What is asked of placement for one attempt. */
export interface PlacementAsk {
  mode: Mode;
  /** Must be alone on its thread for its whole run (its shared heap ran out). */
  isolated: boolean;
  /** Memory the run itself holds in its thread, in bytes. */
  bytes: number;
  /** Its event's documents: a thread holds them once for all the runs it hosts of that event. */
  input: InputAsk;
}

export interface InputAsk {
  /** Names one event's encoded input (`EncodedInput.key`). */
  key: string;
  /** Memory a thread holds for it, in bytes (`footprint.ts`). */
  bytes: number;
}

/** Memory an attempt would add to thread `t`: its own, and its input's unless `t` holds it already. */
export function addedBytes(t: ThreadView, ask: PlacementAsk): number {
  return ask.bytes + (t.inputs.has(ask.input.key) ? 0 : ask.input.bytes);
}

/**
 * Counts (1) or uncounts (-1) an attempt's memory on its thread, by the rule of `addedBytes`: its
 * input comes with its first run there and goes with its last.
 */
export function countBytes(t: ThreadView, ask: PlacementAsk, sign: 1 | -1): void {
  const { key } = ask.input;
  const runs = (t.inputs.get(key) ?? 0) + sign;
  const setRuns = () => (runs > 0 ? t.inputs.set(key, runs) : t.inputs.delete(key));
  // Added as the thread was before it, taken off as the thread is after it.
  if (sign < 0) setRuns();
  t.heldBytes += sign * addedBytes(t, ask);
  if (sign > 0) setRuns();
}

export type Placement = { kind: 'thread'; id: number } | { kind: 'spawn' } | { kind: 'wait' };

/** Whether a thread holds a CPU slot. */
export function holdsSlot(t: ThreadView): boolean {
  return t.unread || t.hot || t.short > 0;
}

export function slotsInUse(view: PlacementView): number {
  let used = 0;
  for (const t of view.threads) if (holdsSlot(t)) used++;
  return used;
}

/** Whether the mode needs a CPU slot of its own to start. */
export function needsSlot(ask: PlacementAsk, thread: ThreadView | undefined): boolean {
  if (ask.mode === 'share') return false;
  // A short run joining a thread that holds a slot (of short runs, or busy) shares that slot.
  if (ask.mode === 'short') return !thread || !holdsSlot(thread);
  return true;
}

/** Thread `t` is open to the attempt (not closed, reading no run) and its memory allows it. */
function hasRoom(t: ThreadView, ask: PlacementAsk, budget: number): boolean {
  return !t.closed && !t.unread && t.heldBytes + addedBytes(t, ask) <= budget;
}

/** Runs that wait may join a thread that computes nothing, reads nothing, is not closed, and has memory to spare. */
function takesWaiters(t: ThreadView, ask: PlacementAsk, budget: number): boolean {
  return !t.hot && t.short === 0 && hasRoom(t, ask, budget);
}

function best(
  threads: readonly ThreadView[],
  eligible: (t: ThreadView) => boolean,
  better: (a: ThreadView, b: ThreadView) => boolean,
): ThreadView | undefined {
  let found: ThreadView | undefined;
  for (const t of threads) if (eligible(t) && (!found || better(t, found))) found = t;
  return found;
}

/**
 * For a short run of an event with large documents: a thread that parsed them already for the
 * event's waiting runs, busy or not, if its memory allows (a parse of large documents costs more
 * than the run; the thread holds a slot while the run is there).
 */
function parsedFor(view: PlacementView, ask: PlacementAsk): ThreadView | undefined {
  if (ask.input.bytes < SHARED_PARSE_BYTES) return undefined;
  return best(
    view.threads,
    (t) => t.inputs.has(ask.input.key) && hasRoom(t, ask, view.threadBudgetBytes),
    (a, b) => a.runs < b.runs,
  );
}

/** The thread an attempt would go to now, if any (slots aside). */
export function candidate(view: PlacementView, ask: PlacementAsk): ThreadView | undefined {
  const { threads, threadBudgetBytes: budget } = view;
  const empty = (t: ThreadView) => t.runs === 0;
  switch (ask.mode) {
    case 'share': {
      // A thread that parsed the event's documents already (its runs share that parse), else the
      // fullest thread with room: empty threads stay free for runs that must start alone.
      const holds = (t: ThreadView) => t.inputs.has(ask.input.key);
      return best(
        threads,
        (t) => takesWaiters(t, ask, budget),
        (a, b) =>
          holds(a) !== holds(b)
            ? holds(a)
            : a.runs > b.runs || (a.runs === b.runs && a.heldBytes < b.heldBytes),
      );
    }
    case 'probe':
      return (
        threads.find(empty) ??
        best(
          threads,
          (t) => takesWaiters(t, ask, budget),
          (a, b) => a.runs < b.runs,
        )
      );
    case 'alone':
      return threads.find(empty);
    case 'short':
      return (
        parsedFor(view, ask) ??
        best(
          threads,
          (t) => t.runs > 0 && t.short === t.runs && t.runs < SHORT_DEPTH && !t.hot,
          (a, b) => a.runs < b.runs,
        ) ??
        threads.find(empty)
      );
  }
}

/** Thread, spawn or wait for one attempt. */
export function decide(view: PlacementView, ask: PlacementAsk): Placement {
  const t = candidate(view, ask);
  if (needsSlot(ask, t) && slotsInUse(view) >= view.cpuSlots) return { kind: 'wait' };
  if (t) return { kind: 'thread', id: t.id };
  // One start at a time: while a thread starts, the others wait for it.
  const starting = view.liveThreads > view.threads.length;
  return !starting && view.liveThreads < view.maxThreads ? { kind: 'spawn' } : { kind: 'wait' };
}

/** The view after an attempt was put on thread `id` (the next decision of the same pass sees it). */
export function host(view: PlacementView, id: number, ask: PlacementAsk): void {
  const t = view.threads.find((x) => x.id === id);
  if (!t) return;
  t.runs++;
  countBytes(t, ask, 1);
  if (ask.mode === 'short') t.short++;
  if (ask.mode === 'probe' || ask.mode === 'alone') t.unread = true;
  if (ask.isolated) t.closed = true;
}

/**
 * A short run asked with its event's waiting runs, which joins at once, ahead of the slot queue,
 * the thread that parsed their large documents if that thread holds a CPU slot already (it
 * computes, or hosts short runs): it takes no slot from the runs queued for one, and the documents
 * are not parsed again, as they would be once the waiting runs were over (queued behind the cores,
 * a short run of a busy instance waits longer than the waits of its event). Hosted on the view.
 */
export function joinParsed(view: PlacementView, ask: PlacementAsk): number | undefined {
  if (ask.mode !== 'short') return undefined;
  const t = parsedFor(view, ask);
  if (!t || !holdsSlot(t)) return undefined;
  host(view, t.id, ask);
  return t.id;
}

/** What one pass over the waiting attempts decided. */
export interface Pass {
  /** Threads for the attempts at the head of the slot queue that start now, in order. */
  slot: number[];
  /** Threads for the attempts at the head of the share queue that start now, in order. */
  share: number[];
  /** A thread should be started: an attempt at a head waits for one. */
  spawn: boolean;
}

/**
 * One pass over the attempts waiting, each queue in arrival order: runs that need a CPU slot
 * (probes, runs alone, short runs) start while one is free and a thread takes them, first come,
 * first served (else a stream of short runs could keep every slot); runs that wait start while a
 * thread has room for them. Each start is hosted on the view, so the next decision sees it; a
 * queue stops at its first attempt that must wait, so a pass costs what it starts.
 */
export function admitWaiting(
  view: PlacementView,
  queues: { slot: readonly PlacementAsk[]; share: readonly PlacementAsk[] },
): Pass {
  const pass: Pass = { slot: [], share: [], spawn: false };
  for (const [queue, started] of [
    [queues.share, pass.share],
    [queues.slot, pass.slot],
  ] as const) {
    for (const ask of queue) {
      const placement = decide(view, ask);
      if (placement.kind !== 'thread') {
        if (placement.kind === 'spawn' && !pass.spawn) {
          pass.spawn = true;
          // The thread starting is this attempt's: the others wait for another.
          view.liveThreads++;
        }
        break;
      }
      started.push(placement.id);
      host(view, placement.id, ask);
    }
  }
  return pass;
}
