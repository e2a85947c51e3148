// @processor-orchestrator/testing: run a processor as the service does, in a test.
export { runProcessor, type ProcessorRunResult, type RunProcessorOptions } from './run-processor.js';
