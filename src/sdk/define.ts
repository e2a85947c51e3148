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
 * - It is still running at its deadline: TIMEOUT. `ctx.signal` aborts; a processor that then
 *   settles within `PROCESSOR_TIMEOUT_GRACE_MS` keeps its thread, otherwise (or at once, if a
 *   busy loop blocks its event loop) the thread is terminated and replaced. Other processors are
 *   not affected.
 */
export function defineProcessor<const T extends ProcessorDefinition>(definition: T): T {
  return definition;
}
