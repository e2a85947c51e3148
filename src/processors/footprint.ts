/**
 * What an event in progress holds in memory, as estimated from the size of its input (the
 * documents, encoded once per event by `encodeInput` into shared memory). Admission sums it over
 * the events it took (and scales the sum by the share resident memory is measured to hold,
 * `decide.ts`); placement sums a thread's runs and inputs against that thread's heap budget.
 *
 * - The main thread holds their encoded input, and the documents as fetched until they are
 *   encoded: counted at twice it.
 * - A thread holds one parse of an event's input for all the runs it hosts of that event
 *   (`inputs.ts`), but up to three times its size while it parses (the decoded text, its parse, and
 *   the garbage the parse leaves until the collector runs; the parse of documents with many small
 *   fields is larger than their text): counted at three, once per thread. (A long string of a
 *   document, its content say, is a slice of the decoded text, not a copy: `parseJson`. So a
 *   document that is mostly one long string is held about once; the estimate stays for the others.)
 *   Each run adds its own state.
 * - Placement puts an event's waiting runs on a thread that holds its input when one has room, and
 *   runs that compute or end within milliseconds on threads of their own kind: admission, which
 *   counts an event before its runs are placed, counts its input on two threads (one when it has
 *   one run). An event spread wider shows in resident memory, which admission reads too.
 *
 * Measured (2026-12-06, `serve` on push with 512 KiB of documents an event, runs held until
 * released, resident memory over idle per event held): 1.44 MB with one run that never reads its
 * documents, 1.56 MB with one that reads them (1.94 MB before the thread let go of the text once
 * parsed), 3.9–4.0 MB with four that read them (4.1–6.9 MB at the peak, before the garbage
 * collector caught up; 8.5 MB before, when the scheduler also started more threads for them). The
 * 512 KiB capacity bench, 1,500 events through pull: about 2.6 MB an event in progress (resident
 * memory 640–840 MiB with 190–234 events). This estimates 2.6 MB and 4.1 MB.
 */
export const FOOTPRINT = {
  /** An event's own state on the main thread: message, spans, log bindings, outcomes. */
  eventBaseBytes: 32 * 1024,
  mainInputCopies: 2,
  /** A run's own state in its thread: context, promise chain, logger. */
  runBaseBytes: 16 * 1024,
  threadInputCopies: 3,
  /** Threads an event's input is counted on by admission (at most one per run). */
  threadsPerEvent: 2,
} as const;

/** Memory a thread holds for one event's input, for all the runs it hosts of that event, in bytes. */
export function threadInputBytes(inputLength: number): number {
  return FOOTPRINT.threadInputCopies * inputLength;
}

/** Memory one event holds, on the main thread and in its runs' threads, in bytes. */
export function eventBytes(inputLength: number, runs: number): number {
  const threads = Math.min(runs, FOOTPRINT.threadsPerEvent);
  return (
    FOOTPRINT.eventBaseBytes +
    FOOTPRINT.mainInputCopies * inputLength +
    runs * FOOTPRINT.runBaseBytes +
    threads * threadInputBytes(inputLength)
  );
}
