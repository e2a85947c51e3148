/**
 * What an event in progress holds in memory, as estimated from the size of its input (the
 * documents, serialized once per event by `encodeInput`). Admission sums it over the events it
 * took; placement sums a thread's runs against that thread's heap budget.
 *
 * - The main thread holds the documents as fetched and their serialized input: about twice it.
 * - Each run's thread holds its own copy of the input while the run lasts (the string a task
 *   carries, and the documents parsed from it): about three times it, plus the run's own state.
 *
 * The factors were measured with the capacity bench (docs/benchmarks.md), 512 KB of documents an
 * event: resident memory grew by about what this estimates.
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
