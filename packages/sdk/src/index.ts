// @processor-orchestrator/sdk: everything a processor module needs, nothing of the orchestrator.
// The test kit is @processor-orchestrator/testing.
export { defineProcessor, type DefinedProcessor } from './define.js';
export { RetryableError } from './retryable.js';
export { CONTRACT_VERSION } from './version.js';
export type {
  CircuitPolicy,
  ConcurrencyPolicy,
  Document,
  ExecuteFn,
  Factors,
  JsonValue,
  LogFn,
  ProcessorContext,
  ProcessorDefinition,
  ProcessorLogger,
  ProcessorResult,
  RetryPolicy,
} from './contract.js';
