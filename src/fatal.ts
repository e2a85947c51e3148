import { ERROR_CODES, OrchestratorError, hintOf, messageOf, type ErrorCode } from './errors.js';
import { serviceVersion } from './version.js';

/** What the CLI says when a command fails: one line, its code, and the exit code. */
export interface Fatal {
  code: ErrorCode;
  message: string;
  /** 2: the command line or the configuration is wrong; 1: anything else. */
  exitCode: 1 | 2;
  /** Only for an error nothing expected (our bug): where it was thrown. */
  stack?: string;
}

// Start-up problems a user fixes in the command line or the environment.
const CONFIGURATION: ReadonlySet<ErrorCode> = new Set([
  'CONFIG_INVALID',
  'USAGE',
  'PROCESSORS_DIR_UNREADABLE',
  'PURCHASES_INVALID',
]);

// A gRPC error's message repeats its cause once per retry: the first line, and not all of it.
const MAX_MESSAGE_CHARS = 300;

/**
 * The first line of `text`, cut at `MAX_MESSAGE_CHARS`, but for its `hint` (what to do: the end of
 * the message, or added after it), which is never cut.
 */
function oneLine(text: string, hint?: string): string {
  let first = text.split('\n', 1)[0] ?? '';
  if (hint !== undefined && first.endsWith(`; ${hint}`)) first = first.slice(0, -(hint.length + 2));
  const cut = first.length > MAX_MESSAGE_CHARS ? `${first.slice(0, MAX_MESSAGE_CHARS)}…` : first;
  return hint === undefined ? cut : `${cut}; ${hint}`;
}

function codeOf(err: unknown): unknown {
  return err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
}

/**
 * Any thrown value (an OrchestratorError, a Node or gRPC error with a string or numeric `code`,
 * a string, `undefined`) → what to print. Never throws.
 */
export function describeFatal(err: unknown): Fatal {
  if (err instanceof OrchestratorError) {
    const code = err.code in ERROR_CODES ? err.code : 'UNEXPECTED';
    return { code, message: oneLine(err.message, hintOf(err)), exitCode: CONFIGURATION.has(code) ? 2 : 1 };
  }
  const code = codeOf(err);
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    return { code: 'USAGE', message: `${oneLine(messageOf(err))} (see --help)`, exitCode: 2 };
  }
  if (code === 'EADDRINUSE') {
    return {
      code: 'PORT_IN_USE',
      message: `PORT: ${oneLine(messageOf(err))}: another process listens there; stop it or set PORT`,
      exitCode: 1,
    };
  }
  const stack = err instanceof Error ? err.stack : undefined;
  return {
    code: 'UNEXPECTED',
    message: `unexpected error: ${oneLine(messageOf(err), hintOf(err))}`,
    exitCode: 1,
    ...(stack && { stack }),
  };
}

/**
 * The fatal line. On a terminal: `processor-orchestrator: message` (and the stack of an
 * unexpected error, for its bug report). Elsewhere (Cloud Run, a pipe): one JSON log entry in the
 * shape of every other log line (`severity`, `message`, `code`, `serviceContext`, `stack_trace`),
 * so that Cloud Logging keeps it whole and Error Reporting groups it.
 */
export function formatFatal(fatal: Fatal, terminal: boolean): string {
  if (terminal) {
    const stack = fatal.stack ? `\n${fatal.stack}` : '';
    return `processor-orchestrator: ${fatal.message}${stack}\n`;
  }
  let version: string;
  try {
    version = serviceVersion();
  } catch {
    version = 'unknown';
  }
  return `${JSON.stringify({
    severity: 'ERROR',
    message: fatal.message,
    code: fatal.code,
    exit_code: fatal.exitCode,
    timestamp: new Date().toISOString(),
    serviceContext: { service: 'processor-orchestrator', version },
    ...(fatal.stack && { stack_trace: fatal.stack }),
  })}\n`;
}
