import { constants } from 'node:os';

import { loadConfig } from '../config.js';
import { commandArgs } from './args.js';
import { checkEmulator } from '../pubsub/probe.js';
import { createLogger, type Logger } from '../logging.js';
import { startRuntime } from '../runtime.js';
import type { Service } from '../service.js';
import { openTelemetry } from '../telemetry/open.js';

/**
 * `serve`: the production entry. Serves HTTP on `PORT` and pulls from
 * `UNDERWRITING_SUBSCRIPTION` when it is set. SIGTERM or SIGINT stops it gracefully (exit 0);
 * a second signal exits at once.
 */
export async function serveCommand(args: string[]): Promise<number> {
  commandArgs('serve', args, { options: {}, positionals: { min: 0, max: 0, what: '' } });
  const config = loadConfig();
  // The emulator answers while this thread loads the rest; nothing listens before it has.
  const emulatorChecked = config.pubsub.emulatorHost && checkEmulator(config.pubsub.emulatorHost);
  if (emulatorChecked) emulatorChecked.catch(() => {});
  const log = createLogger(config.logLevel);
  const telemetry = await openTelemetry(config.telemetry, config.pubsub.projectId);
  // The pool's threads boot on the other cores while this thread loads the transports (Fastify,
  // the routes): most of a start-up. The Pub/Sub client loads later (see startService).
  const runtime = startRuntime(config, log, telemetry);
  runtime.catch(() => {});
  const { startService } = await import('../service.js');
  try {
    await emulatorChecked;
  } catch (err) {
    await runtime.then(
      (started) => started.close(),
      () => {},
    );
    await telemetry.shutdown();
    throw err;
  }
  const service = await startService(config, log, '0.0.0.0', { early: { telemetry, runtime } });
  return untilSignalled(service, log);
}

/**
 * Stops `service` gracefully on the first SIGTERM or SIGINT and exits at once (128 + n) on a
 * second. Resolves with the service's exit code once it has stopped.
 */
export function untilSignalled(service: Service, log: Logger): Promise<number> {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(128 + constants.signals[signal]);
    }
    signalled = true;
    void service.stop(`received ${signal}`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return service.stopped;
}
