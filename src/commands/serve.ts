import { constants } from 'node:os';

import { loadConfig } from '../config.js';
import { commandArgs } from './args.js';
import { checkEmulator } from '../pubsub/probe.js';
import { createLogger, type Logger } from '../logging.js';
import { startRuntime } from '../runtime.js';
import { StoppedWhileStarting } from '../lifecycle.js';
import type { Service } from '../service.js';
import { openTelemetry } from '../telemetry/open.js';

/**
 * `serve`: the production entry. Serves HTTP on `PORT` and pulls from
 * `UNDERWRITING_SUBSCRIPTION` when it is set. SIGTERM or SIGINT stops it gracefully (exit 0),
 * during its start-up too (what was opened is closed); a second signal exits at once.
 */
export async function serveCommand(args: string[]): Promise<number> {
  commandArgs('serve', args, { options: {}, positionals: { min: 0, max: 0, what: '' } });
  const config = loadConfig();
  // The emulator answers while this thread loads the rest; nothing listens before it has.
  const emulatorChecked = config.pubsub.emulatorHost && checkEmulator(config.pubsub.emulatorHost);
  if (emulatorChecked) emulatorChecked.catch(() => {});
  const log = createLogger(config.logLevel);
  const signals = onSignals(log);
  const telemetry = await openTelemetry(config.telemetry, config.pubsub.projectId);
  // The pool's threads boot on the other cores while this thread loads the transports (Fastify,
  // the routes): most of a start-up. The Pub/Sub client loads later (see startService).
  const runtime = startRuntime(config, log, telemetry);
  runtime.catch(() => {});
  // Owned by the service from here: it closes them, whatever fails (the emulator check too).
  const early = { telemetry, runtime, checked: emulatorChecked || undefined };
  const { startService } = await import('../service.js');
  let service: Service;
  try {
    service = await startService(config, log, '0.0.0.0', { early, signal: signals.starting });
  } catch (err) {
    if (err instanceof StoppedWhileStarting) return 0;
    throw err;
  }
  return signals.until(service);
}

/**
 * Stops `service` gracefully on the first SIGTERM or SIGINT and exits at once (128 + n) on a
 * second. Resolves with the service's exit code once it has stopped.
 */
export function untilSignalled(service: Service, log: Logger): Promise<number> {
  return onSignals(log).until(service);
}

/**
 * Listens for SIGTERM and SIGINT from now: the first aborts `starting` while the service starts,
 * or stops it gracefully once `until` has it; a second exits at once (128 + n).
 */
function onSignals(log: Logger) {
  const starting = new AbortController();
  let service: Service | undefined;
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(128 + constants.signals[signal]);
    }
    signalled = signal;
    if (service) void service.stop(`received ${signal}`);
    else starting.abort(`received ${signal}`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    starting: starting.signal,
    /** Resolves with the service's exit code once it has stopped. */
    until(started: Service): Promise<number> {
      service = started;
      // Signalled as its last step ran: it stops now.
      if (signalled) void started.stop(`received ${signalled}`);
      return started.stopped;
    },
  };
}
