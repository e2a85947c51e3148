import type { Factors } from '../events/processing-completed.js';

/** What the pool sends a worker thread for one processor run. Plain data only. */
export interface PoolTask {
  /** Absolute path of the plugin module; imported once per thread. */
  file: string;
  processorId: string;
  executionId: string;
  underwritingId: string;
  timeoutMs: number;
  /** Slot of the start table this thread stamps when the run starts. */
  slot: number;
  /** `{ documents, missingDocuments }` as JSON, serialized once per event for all its tasks. */
  input: string;
}

/**
 * What a worker thread answers. Never a thrown custom error (the class would be lost crossing
 * the thread boundary): every outcome the thread can see is data.
 */
export type WorkerOutcome =
  | { status: 'completed'; factors: Factors; durationMs: number }
  | { status: 'failed'; error: string; durationMs: number }
  | { status: 'timeout'; phase: 'signal'; durationMs: number };

/** Given to the worker threads at start. */
export interface PoolWorkerData {
  startTable: SharedArrayBuffer;
  logLevel: string;
}
