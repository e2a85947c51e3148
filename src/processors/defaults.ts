/**
 * How a processor runs when neither it nor the configuration says otherwise. Named here, not in
 * `config.ts`, so that the test kit, which runs processors as the service does, needs nothing of
 * the service's configuration.
 */
export const PROCESSOR_DEFAULTS = {
  PROCESSOR_TIMEOUT_MS: 60_000,
  PROCESSOR_MAX_HEAP_MB: 256,
  PROCESSOR_TIMEOUT_GRACE_MS: 1_000,
} as const;
