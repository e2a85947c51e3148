// processor-orchestrator/sdk: everything a processor module needs, nothing of the orchestrator.
// The test kit is processor-orchestrator/testing.
export { defineProcessor } from './define.js';
export { RetryableError } from './retryable.js';
export type {
  CircuitPolicy,
  ConcurrencyPolicy,
  ExecuteFn,
  ProcessorContext,
  ProcessorDefinition,
  ProcessorResult,
  RetryPolicy,
} from '../processors/contract.js';
export type { Document } from '../events/document.js';
export type { Factors } from '../events/processing-completed.js';
