import { z } from 'zod';

import type { Logger } from '../logging.js';
import type { Document } from '../events/document.js';
import type { Factors } from '../events/processing-completed.js';
import { ProcessorIdSchema } from '../events/underwriting-created.js';

/**
 * What a processor's `execute` receives. It runs inside a pool worker thread.
 */
export interface ProcessorContext {
  /** The underwriting being processed. */
  readonly underwritingId: string;
  /** ULID minted when this run was dispatched; the result reports it whatever the outcome. */
  readonly executionId: string;
  /** Metadata of every document of the underwriting that the document source has. */
  readonly documents: readonly Document[];
  /** Ids of the underwriting's documents that the source does not have. */
  readonly missingDocuments: readonly string[];
  /**
   * Aborted at the processor's deadline. Pass it to `fetch` and other cancellable calls and stop
   * when it aborts; a processor still running a short grace later is terminated. Either way the
   * run is reported as TIMEOUT.
   */
  readonly signal: AbortSignal;
  /** A pino logger bound to this run (processor, execution and underwriting ids). */
  readonly log: Logger;
}

/** What `execute` returns: a JSON object of factors. Anything else is a FAILED run. */
export interface ProcessorResult {
  factors: Factors;
}

/**
 * A processor's work: called once per run with its context, in a worker thread. Return (or
 * resolve to) `{ factors }` to COMPLETE; throw or reject to FAIL with the error's message; still
 * running at the deadline is TIMEOUT, whatever it returns later.
 */
export type ExecuteFn = (ctx: ProcessorContext) => Promise<ProcessorResult> | ProcessorResult;

/** The plugin contract: a module's default export is a value of this shape. */
export const ProcessorDefinitionSchema = z.object({
  id: ProcessorIdSchema,
  version: z.string().min(1, 'version is required'),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  execute: z.custom<ExecuteFn>((v) => typeof v === 'function', 'execute must be a function'),
});

/**
 * A processor: `id` (what purchases and results name; `/^[a-z0-9_]+$/`), `version`, an optional
 * `timeoutMs` (else the orchestrator's default), and `execute`.
 */
export type ProcessorDefinition = z.infer<typeof ProcessorDefinitionSchema>;
