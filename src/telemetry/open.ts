import type { Config } from '../config.js';
import { noTelemetry, type Telemetry } from './telemetry.js';

/**
 * The telemetry the configuration asks for: the OpenTelemetry SDK, imported now, when an OTLP
 * endpoint is set; else `noTelemetry`, and the SDK is never loaded. In a module of its own, so that
 * the pool (and the test kit, which ships it) never reaches the SDK's import.
 */
export async function openTelemetry(
  config: Config['telemetry'],
  projectId: string | undefined,
): Promise<Telemetry> {
  if (!config.traces && !config.metrics) return noTelemetry(projectId);
  const { startTelemetry } = await import('./sdk.js');
  return startTelemetry(config, projectId);
}
