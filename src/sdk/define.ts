import { fileURLToPath } from 'node:url';

import type { ProcessorDefinition } from '../processors/contract.js';

/** Where `defineProcessor` records the module that declared a processor (the test kit reads it). */
export const DEFINED_IN: unique symbol = Symbol.for('processor-orchestrator.definedIn');

/**
 * Declares a processor; the module's default export must be its result. It adds types, and
 * records which module declared it so that `runProcessor` from `processor-orchestrator/testing`
 * can load that module in a worker thread. A plain object of the same shape is an equally valid
 * plugin, in TypeScript or JavaScript.
 *
 * Contract, enforced by the orchestrator:
 * - **Deadline**: `execute(ctx)` runs in a worker thread of the pool, under a deadline of
 *   `timeoutMs` (else the configured `PROCESSOR_TIMEOUT_MS`) counted from when it starts running
 *   (not from when it was queued).
 * - **COMPLETED**: it returns (or resolves to) `{ factors }`, a JSON object: strings, finite
 *   numbers, booleans, null, arrays and objects of those. Nothing else crosses the thread.
 * - **FAILED**, with a message: it throws or rejects, calls `process.exit`, throws from a callback
 *   while it runs, exceeds the thread's heap limit (`PROCESSOR_MAX_HEAP_MB`), or returns anything
 *   but `{ factors: object of JSON values }`. A failure is one line in the result; it never fails
 *   the event or other processors.
 * - **TIMEOUT**: it has not settled at its deadline. `ctx.signal` aborts first; a processor that
 *   then settles within `PROCESSOR_TIMEOUT_GRACE_MS` (1 s) keeps its thread (phase `signal`);
 *   otherwise, or at once if a busy loop blocks its event loop, the thread is terminated and
 *   replaced (phase `terminated`). What it returns after its deadline is not used.
 * - **Logging**: use `ctx.log` (pino, bound to the run's ids); it reaches the service's
 *   structured logs. Never log secrets.
 * - **State**: a thread runs many processors one after another; keep no per-run state in module
 *   scope.
 */
export function defineProcessor<const T extends ProcessorDefinition>(definition: T): T {
  const file = callerFile();
  if (file !== undefined && !Object.isFrozen(definition)) {
    Object.defineProperty(definition, DEFINED_IN, { value: file, enumerable: false });
  }
  return definition;
}

/** The file of the module that called `defineProcessor`. */
function callerFile(): string | undefined {
  // Put back exactly as it was afterwards (a property, or none).
  const original = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
  try {
    Error.prepareStackTrace = (_err, frames) => frames;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    // [0] callerFile, [1] defineProcessor, [2] its caller.
    const name = frames[2]?.getFileName();
    if (!name) return undefined;
    return name.startsWith('file://') ? fileURLToPath(name) : name;
  } catch {
    return undefined;
  } finally {
    if (original) Object.defineProperty(Error, 'prepareStackTrace', original);
    else Reflect.deleteProperty(Error, 'prepareStackTrace');
  }
}
