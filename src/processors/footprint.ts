/**
 * What an event in progress holds in memory, as estimated from the size of its input (the
 * documents, encoded once per event by `encodeInput` into shared memory). Admission sums it over the events it
 * took (and scales the sum by the share resident memory is measured to hold, `decide.ts`);
 * placement sums a thread's runs against that thread's heap budget.
 *
 * - The main thread holds the documents as fetched and their encoded input: about twice it.
 * - Each run's thread holds the parse of the input while the run lasts, but up to three times its
 *   size while it parses (the decoded text, its parse, and the garbage the parse leaves until the
 *   collector runs; the parse of documents with many small fields is larger than their text):
 *   counted at three, plus the run's own state. An upper bound: the runs of one event on one
 *   thread share one parse (`inputs.ts`). Admission scales its accounts down to what resident
 *   memory shows.
 *
 * Measured (2026-12-06, `serve` on push with 512 KiB of documents an event, runs held until
 * released, resident memory over idle per event held): 1.44 MB with one run that never reads its
 * documents, 1.56 MB with one that reads them (1.94 MB before the thread let go of the text once
 * parsed), 3.9–4.0 MB with four that read them (4.1–6.9 MB at the peak, before the garbage
 * collector caught up; 8.5 MB before, when the scheduler also started more threads for them); this estimates 2.6 MB and 7.1 MB.
 */
export const FOOTPRINT = {
  /** An event's own state on the main thread: message, spans, log bindings, outcomes. */
  eventBaseBytes: 32 * 1024,
  mainInputCopies: 2,
  /** A run's own state in its thread: context, promise chain, logger. */
  runBaseBytes: 16 * 1024,
  threadInputCopies: 3,
} as const;

/** Memory one run holds in its thread, in bytes. */
export function runBytes(inputLength: number): number {
  return FOOTPRINT.runBaseBytes + FOOTPRINT.threadInputCopies * inputLength;
}

/** Memory one event holds, on the main thread and in its runs' threads, in bytes. */
export function eventBytes(inputLength: number, runs: number): number {
  return FOOTPRINT.eventBaseBytes + FOOTPRINT.mainInputCopies * inputLength + runs * runBytes(inputLength);
}
