export { defineProcessor } from './define.js';
export type {
  ExecuteFn,
  ProcessorContext,
  ProcessorDefinition,
  ProcessorResult,
} from '../processors/contract.js';
export type { Document } from '../events/document.js';
export type { Factors } from '../events/processing-completed.js';
