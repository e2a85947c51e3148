// What the capacity section is told: the sizes of its cases, how long each may take, its targets.
export interface CapacitySettings {
  limitBytes: number;
  /** Events through the reference and through serve before anything is measured (the emulator's JIT). */
  warmupEvents: { reference: number; serve: number };
  backlogEvents: number;
  pushEvents: number;
  largeEvents: number;
  steady: {
    seconds: number;
    /** The share of the rate the CPU allows that arrives. */
    utilisation: number;
    /** How long the bench waits for the last replies once publishing ends, in s. */
    drainS: number;
  };
  cold: { runs: number; small: number; large: number; mixedWaiting: number; mixedComputing: number };
  startups: number;
  /** The longest a case may take before it is reported unfinished, in s. */
  timeBoxS: { backlog: number; push: number; large: number };
  targets: {
    backlogRatio: number;
    pushRatio: number;
    largePeakShare: number;
    largeTimeRatio: number;
    /** The slowest processor (s) and the p99 allowed, as a multiple of it. */
    slowestProcessorS: number;
    steadyP99Ratio: number;
    coldSmallS: number;
    coldLargeS: number;
    readyS: number;
  };
}
