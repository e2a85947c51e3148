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
    redact: { paths: NAMED_PATHS, censor: CENSOR },
    formatters: {
      level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
      log: (object) => {
        const safe = withoutNestedSecrets(object);
        const err = safe['err'];
        return err instanceof Error && err.stack ? { ...safe, stack_trace: err.stack } : safe;
      },
    },
  };
}

const CENSOR = '[redacted]';

/**
 * The `*.` paths are censored here, not by pino: given a path that starts with a wildcard, pino
 * runs `@pinojs/redact` on every value of every line and of every child's bindings, which parses
 * each path again and copies what it walks (about 25 KB of garbage an event, the main thread's
 * largest allocation). The named paths stay with pino, which censors them only where their key is.
 */
const NAMED_PATHS = REDACTED_PATHS.filter((path) => !path.startsWith('*.'));
const NESTED_KEYS = REDACTED_PATHS.filter((path) => path.startsWith('*.')).map((path) => path.slice(2));

/**
 * `object`, with the secrets one level down (`*.token`…) censored in copies of the values that
 * hold them: the same object, uncopied, when none does. A copy keeps its value's prototype and
 * every other property (an `Error` stays one, with its stack).
 */
export function withoutNestedSecrets<T extends Record<string, unknown>>(object: T): T {
  let safe: T | undefined;
  for (const key in object) {
    const value = object[key];
    if (typeof value !== 'object' || value === null || !Object.hasOwn(object, key)) continue;
    if (!NESTED_KEYS.some((secret) => Object.hasOwn(value, secret))) continue;
    const properties: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(value);
    for (const secret of NESTED_KEYS) {
      if (secret in properties)
        properties[secret] = { value: CENSOR, enumerable: true, writable: true, configurable: true };
    }
    safe ??= { ...object };
    safe[key] = Object.create(Object.getPrototypeOf(value) as object | null, properties) as T[typeof key];
  }
  return safe ?? object;
}

/**
 * The root logger. Logs go to stderr (synchronously, so nothing is lost at exit); stdout is kept
 * for what a command prints.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const root = pino(gcpLoggerOptions(level), destination ?? pino.destination({ dest: 2, sync: true }));
  // Bindings skip the formatters, so they are censored on the way in; every logger descends from
  // this one and inherits both.
  /* eslint-disable @typescript-eslint/unbound-method -- called below with each logger as `this` */
  const { child, setBindings } = root;
  /* eslint-enable @typescript-eslint/unbound-method */
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, withoutNestedSecrets(bindings), options);
  } as typeof root.child;
  root.setBindings = function (this: Logger, bindings) {
    setBindings.call(this, withoutNestedSecrets(bindings));
  };
  return root;
}
