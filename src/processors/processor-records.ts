import { afterReading, afterRun, expectedSlotMs, modeOf, type ProcessorRecord } from './learning.js';
import type { Kind, Mode } from './placement.js';

/**
 * What the scheduler has learnt of each processor, kept by the pure rules of `learning.ts`: what
 * its runs do (a reading of the thread, or how long runs took), and what follows for the next one.
 */
export function createProcessorRecords() {
  const records = new Map<string, ProcessorRecord>();
  return {
    /** How the next attempt of this processor is placed. */
    modeOf: (attempt: { processorId: string; isolated: boolean }): Mode =>
      modeOf(records.get(attempt.processorId), attempt.isolated),

    /** A reading of a run told what the processor does. */
    read(processorId: string, kind: Kind): void {
      records.set(processorId, afterReading(records.get(processorId), kind));
    },

    /** A run ended after `ranMs` of run time, in `mode` (still `probe` if it was never read). */
    ran(processorId: string, run: { mode: Mode; ranMs: number }): void {
      records.set(processorId, afterRun(records.get(processorId), run));
    },

    /** How long the runs of these processors are expected to hold a CPU slot, summed, in ms. */
    expectedSlotMs(processorIds: Iterable<string>): number {
      let ms = 0;
      for (const id of processorIds) ms += expectedSlotMs(records.get(id));
      return ms;
    },

    /** What each processor was learnt to do. */
    kinds(): Record<string, Kind> {
      return Object.fromEntries([...records].flatMap(([id, r]) => (r.kind ? [[id, r.kind]] : [])));
    },
  };
}

export type ProcessorRecords = ReturnType<typeof createProcessorRecords>;
