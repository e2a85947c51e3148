import { fileURLToPath } from 'node:url';

import type { ProcessorDefinition } from './contract.js';
import { CONTRACT_VERSION } from './version.js';

// Where `defineProcessor` records the module that declared a processor, for the test kit. A key of
// the global symbol registry, not an object: every copy of the SDK and of the kit finds it.
const DEFINED_IN = Symbol.for('processor-orchestrator.definedIn');

/** A definition as `defineProcessor` returns it: as given, with the contract version it is built for. */
export type DefinedProcessor<T extends ProcessorDefinition> = T & { readonly contractVersion: string };

/**
 * Declares a processor; the module's default export must be its result (or an array of such
 * results, for a package that ships several). It adds types, stamps the plugin contract version
 * (`CONTRACT_VERSION`) on the definition as `contractVersion`, and records which module declared
 * it, so that `runProcessor` from `@processor-orchestrator/testing` can load that module in a
 * worker thread. It returns a new object and leaves `definition` as it was.
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
 * - **Version**: a service refuses, at start-up, a processor whose `contractVersion` has another
 *   major version than its own contract's.
 */
export function defineProcessor<const T extends ProcessorDefinition>(definition: T): DefinedProcessor<T> {
  const defined = { ...definition, contractVersion: CONTRACT_VERSION };
  const file = callerFile();
  if (file !== undefined) Object.defineProperty(defined, DEFINED_IN, { value: file, enumerable: false });
  return defined;
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
