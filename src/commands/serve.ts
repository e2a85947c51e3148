import { constants } from 'node:os';

import { loadConfig } from '../config.js';
import { createLogger } from '../logging.js';
import { startService } from '../service.js';

/**
 * `serve`: the production entry. Serves HTTP on `PORT` and pulls from
 * `UNDERWRITING_SUBSCRIPTION` when it is set. SIGTERM or SIGINT stops it gracefully (exit 0);
 * a second signal exits at once.
 */
export async function serveCommand(): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const service = await startService(config, log, '0.0.0.0');
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(128 + constants.signals[signal]);
    }
    signalled = true;
    void service.stop(`received ${signal}`);
  };
  let signalled = false;
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return service.stopped;
}
