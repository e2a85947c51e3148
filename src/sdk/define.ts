import type { ProcessorDefinition } from '../processors/contract.js';

/**
 * Declares a processor; the module's default export must be its result. It only adds types: a
 * plain object of the same shape is an equally valid plugin, in TypeScript or JavaScript.
 *
 * Contract, enforced by the orchestrator:
 * - `execute(ctx)` runs in a worker thread of the pool, under a deadline of `timeoutMs` (else
 *   the configured `PROCESSOR_TIMEOUT_MS`) counted from when it starts running.
 * - It returns `{ factors }`, a JSON object: COMPLETED with those factors.
 * - It throws, rejects, calls `process.exit`, exhausts the thread's heap limit, or returns
 *   anything but `{ factors: object of JSON values }`: FAILED with a message.
 * - It is still running at its deadline: `ctx.signal` aborts, the thread is terminated and
 *   replaced, and the run is reported as TIMEOUT. Other processors are not affected.
 */
export function defineProcessor<const T extends ProcessorDefinition>(definition: T): T {
  return definition;
}
