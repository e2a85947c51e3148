import type { z } from 'zod';

import { DOCUMENTS_DEFAULTS, documentsSection, documentsVariables } from './config/documents.js';
import { isRule } from './config/fields.js';
import { LEDGER_DEFAULTS, ledgerSection, ledgerVariables } from './config/ledger.js';
import { OPS_DEFAULTS, opsSection, opsVariables } from './config/ops.js';
import { processorsSection, processorsVariables } from './config/processors.js';
import { PUBSUB_DEFAULTS, pubsubSection, pubsubVariables } from './config/pubsub.js';
import { PUSH_DEFAULTS, pushSection, pushVariables } from './config/push.js';
import { SERVICE_DEFAULTS, serviceSection, serviceVariables } from './config/service.js';
import { TELEMETRY_DEFAULTS, telemetrySection, telemetryVariables } from './config/telemetry.js';
import { OrchestratorError, formatIssues } from './errors.js';
import { PROCESSOR_DEFAULTS } from './processors/defaults.js';
import type { ProcessorSources } from './processors/discovery.js';

// The configuration is read from the environment by sections (src/config/*.ts). Each section is
// one zod schema: its variables, the rules between them, and the shape the rest of the code sees.
// A variable is added to its section alone (and to docs/configuration.md, which a test keeps equal
// to ENV_VARIABLES).

export { checkConfiguredPaths } from './config/configured-paths.js';
export { TRACE_SAMPLERS, type OtlpProtocol, type OtlpTarget, type TraceSampler } from './config/telemetry.js';

/** Defaults, named once in their sections. */
export const DEFAULTS = {
  ...PUBSUB_DEFAULTS,
  ...SERVICE_DEFAULTS,
  ...DOCUMENTS_DEFAULTS,
  ...PROCESSOR_DEFAULTS,
  ...PUSH_DEFAULTS,
  ...OPS_DEFAULTS,
  ...LEDGER_DEFAULTS,
  ...TELEMETRY_DEFAULTS,
} as const;

/** The whole configuration: every section parses the same environment; their shapes are merged. */
const ConfigSchema = pubsubSection
  .and(serviceSection)
  .and(pushSection)
  .and(opsSection)
  .and(documentsSection)
  .and(processorsSection)
  .and(ledgerSection)
  .and(telemetrySection);

export type Config = z.output<typeof ConfigSchema>;

/** Every environment variable the service reads (docs/configuration.md lists each). */
export const ENV_VARIABLES = Object.keys({
  ...pubsubVariables,
  ...serviceVariables,
  ...pushVariables,
  ...opsVariables,
  ...documentsVariables,
  ...processorsVariables,
  ...ledgerVariables,
  ...telemetryVariables,
});

/**
 * Parses the environment once. A bad value throws CONFIG_INVALID with one line that names the
 * variable and what is wrong (every bad value, else the first rule refused); the CLI prints that
 * line and exits 2.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const { issues } = parsed.error;
  const badValues = issues.filter((issue) => !isRule(issue));
  throw new OrchestratorError(
    'CONFIG_INVALID',
    formatIssues(badValues.length > 0 ? badValues : issues.slice(0, 1)),
  );
}

/** Where the configured processors come from: `PROCESSORS_DIR`, then `PROCESSOR_PACKAGES`. */
export function processorSources(
  config: Pick<Config, 'processorsDir' | 'processorPackages'>,
): ProcessorSources {
  return { dir: config.processorsDir, packages: config.processorPackages };
}
