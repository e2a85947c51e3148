import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

import { serviceVersion } from './version.js';

export type { Logger };

// pino level → Google Cloud Logging severity.
const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/** Paths never written to a log, whatever a caller passes. Declared once, here. */
export const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  'apiKey',
  'api_key',
  'password',
  'secret',
  '*.authorization',
  '*.token',
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.secret',
];

/**
 * pino options for Google Cloud Logging's structured shape: `severity`, `message`, an RFC 3339
 * `timestamp`, `serviceContext`, and `stack_trace` for errors (so Error Reporting groups them).
 * The same options serve the main thread and every worker thread.
 */
export function gcpLoggerOptions(level: string): LoggerOptions {
  return {
    level,
    messageKey: 'message',
    base: { serviceContext: { service: 'processor-orchestrator', version: serviceVersion() } },
    timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: {
      level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
      log: (object) => {
        const err = object['err'];
        return err instanceof Error && err.stack ? { ...object, stack_trace: err.stack } : object;
      },
    },
  };
}

/**
 * The root logger. Logs go to stderr (synchronously, so nothing is lost at exit); stdout is kept
 * for what a command prints.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(gcpLoggerOptions(level), destination ?? pino.destination({ dest: 2, sync: true }));
}
