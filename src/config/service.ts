import { z } from 'zod';

import { integer, oneOfAnyCase, withDefault } from './fields.js';

export const SERVICE_DEFAULTS = {
  PORT: 8080,
  /** Cloud Run gives 10 s after SIGTERM; what is left after the drain closes the subscriber. */
  SHUTDOWN_TIMEOUT_MS: 8_000,
  LOG_LEVEL: 'info',
} as const;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const serviceVariables = {
  PORT: integer(0, 65_535, SERVICE_DEFAULTS.PORT),
  SHUTDOWN_TIMEOUT_MS: integer(0, 3_600_000, SERVICE_DEFAULTS.SHUTDOWN_TIMEOUT_MS),
  LOG_LEVEL: withDefault(
    SERVICE_DEFAULTS.LOG_LEVEL,
    oneOfAnyCase(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')} (any case)`),
  ),
};

/** The process: its HTTP port, its shutdown and its logs. */
export const serviceSection = z.object(serviceVariables).transform((e) => ({
  /** HTTP port; 0 picks a free one. */
  port: e.PORT,
  /** After SIGTERM, how long in-flight events may take to finish before they are nacked. */
  shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  logLevel: e.LOG_LEVEL,
}));

export type ServiceConfig = z.output<typeof serviceSection>;
