import type { z } from 'zod';

/**
 * The one catalogue of error codes. Codes are stable and never reused; `retryable` says whether
 * a later delivery of the same event can succeed (nack / 503) or not (dead-letter / ack);
 * `httpStatus` is what the operations API answers with the code (500 when it has none).
 * docs/error-codes.md is kept in sync by a test.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { retryable: false, summary: 'an environment variable has a bad or missing value' },
  USAGE: { retryable: false, summary: 'the command line is wrong' },
  PROCESSOR_INVALID: {
    retryable: false,
    summary: 'a plugin module does not export a valid processor definition',
  },
  PROCESSOR_DUPLICATE: { retryable: false, summary: 'two plugin modules declare the same id' },
  PROCESSOR_CONTRACT_MISMATCH: {
    retryable: false,
    summary:
      'a processor is built for another major version of the plugin contract than the service implements',
  },
  PROCESSORS_DIR_UNREADABLE: { retryable: false, summary: 'the processors directory cannot be read' },
  PURCHASES_INVALID: { retryable: false, summary: 'the purchases file is not valid' },
  EVENT_INVALID: {
    retryable: false,
    summary: 'a message is not an underwriting.created event (poison)',
  },
  DOCUMENT_SOURCE_UNAVAILABLE: {
    retryable: true,
    summary: 'the document source could not answer; the event is retried later',
  },
  PUBLISH_FAILED: {
    retryable: true,
    summary: 'processing.completed could not be published; the event is retried later',
    httpStatus: 503,
  },
  DEAD_LETTER_FAILED: {
    retryable: true,
    summary: 'a poison message could not be forwarded to the dead-letter topic; it is retried later',
  },
  SHUTTING_DOWN: {
    retryable: true,
    summary: 'the service stopped before the event finished; it is redelivered to another instance',
  },
  IN_PROGRESS_ELSEWHERE: {
    retryable: true,
    summary: 'the same event is in progress in another delivery; retried, it finds the result',
  },
  LEDGER_UNAVAILABLE: {
    retryable: true,
    summary: 'the execution ledger (Firestore) did not answer in time; the event is retried later',
    httpStatus: 503,
  },
  PULL_FAILED: {
    retryable: false,
    summary: 'the pull subscription failed for good (e.g. it does not exist); the service stops',
  },
  EMULATOR_UNAVAILABLE: {
    retryable: false,
    summary:
      'dev could not start the Pub/Sub or Firestore emulator (or Java is missing), or nothing like the emulator answers at PUBSUB_EMULATOR_HOST',
  },
  REPLAY_FAILED: {
    retryable: false,
    summary: 'replay: an event did not complete in time, or a result differs from the expected one',
  },
  PORT_IN_USE: { retryable: false, summary: 'another process listens on PORT already' },
  NOT_FOUND: {
    retryable: false,
    summary:
      'ops: the ledger has no execution of that underwriting; or no such bulk re-run job, or installed processor',
    httpStatus: 404,
  },
  REQUEST_INVALID: {
    retryable: false,
    summary:
      'ops: a query or body is not what the route takes, or names a processor the execution did not have',
    httpStatus: 400,
  },
  RERUN_REFUSED: {
    retryable: false,
    summary:
      'ops: nothing to re-run (no finished execution yet, or "failed" and nothing failed), or a bulk re-run job that is over cannot be cancelled',
    httpStatus: 409,
  },
  OPS_UNAVAILABLE: {
    retryable: false,
    summary:
      'ops: the operations views, pauses, bulk re-runs and the audit trail need an execution ledger (LEDGER=none has none)',
    httpStatus: 503,
  },
  OPS_REQUEST_FAILED: {
    retryable: false,
    summary: 'status/rerun/pause/resume: the operations API refused the request or could not be reached',
  },
  PROCESSOR_FAILED: {
    retryable: false,
    summary:
      'a FAILED entry: the processor threw, rejected, exited, ran out of memory or returned no factors (its error_code in processing.completed)',
  },
  PROCESSOR_NOT_INSTALLED: {
    retryable: false,
    summary: 'a FAILED entry: the event purchased a processor that is not installed (its error_code)',
  },
  PROCESSOR_PAUSED: {
    retryable: false,
    summary:
      'a FAILED entry: an operator paused the processor, so it was not called; the message says who, when and why (its error_code)',
  },
  PROCESSOR_CIRCUIT_OPEN: {
    retryable: false,
    summary:
      "a FAILED entry: the processor's circuit breaker is open after too many failures, so it was not called (its error_code)",
  },
  IDEMPOTENCY_KEY_REUSED: {
    retryable: false,
    summary:
      'ops: a bulk re-run repeats an Idempotency-Key with other processors, status, error filters or operator',
    httpStatus: 409,
  },
  UNEXPECTED: {
    retryable: false,
    summary: 'an error nothing expected (a bug): the fatal line carries its stack',
  },
} as const satisfies Record<string, { retryable: boolean; summary: string; httpStatus?: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status an error with this code answers with: its `httpStatus`, else 500. */
export function httpStatusOf(code: string): number {
  const entry = (ERROR_CODES as Record<string, { httpStatus?: number } | undefined>)[code];
  return entry?.httpStatus ?? 500;
}

export class OrchestratorError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /**
   * What to do about it (install this, set that): the end of the message (after `; `), which the
   * fatal line never cuts.
   */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; hint?: string | undefined }) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'OrchestratorError';
    this.code = code;
    this.retryable = ERROR_CODES[code].retryable;
    this.hint = options?.hint;
  }
}

/** The `hint` an error carries (what to do about it), if any: see `OrchestratorError`. */
export function hintOf(err: unknown): string | undefined {
  const hint = err !== null && typeof err === 'object' ? (err as { hint?: unknown }).hint : undefined;
  return typeof hint === 'string' && hint !== '' ? hint : undefined;
}

/**
 * zod issues as one line: `path: message` each (`root: message`, or the bare message, when the
 * issue is about the whole value), joined with `; `. Every message about a zod failure uses it.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root = ''): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.') || root;
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Why a path cannot be read, for a line that names it: `does not exist`, `cannot be read (…)`. */
export function unreadableReason(err: unknown): string {
  switch ((err as { code?: unknown } | null)?.code) {
    case 'ENOENT':
      return 'does not exist';
    case 'ENOTDIR':
      return 'is not a folder';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    default:
      return `cannot be read (${messageOf(err)})`;
  }
}

/** The message of anything thrown, for a log line or an `error_message` (`TypeError: …`). */
export function messageOf(err: unknown): string {
  if (err instanceof Error) {
    if (!err.message) return err.name;
    return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
  }
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/**
 * A low-cardinality name for what went wrong (the `error.type` of spans and metrics): the
 * catalogue's code, else the class name.
 */
export function errorType(err: unknown): string {
  if (err instanceof OrchestratorError) return err.code;
  if (err instanceof Error) return err.name || 'Error';
  return '_OTHER';
}
