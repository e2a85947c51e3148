import { createServer } from 'node:net';

import { OrchestratorError } from './errors.js';

/** PORT_IN_USE: the one line for a port another process holds. */
export function portInUse(port: number, host: string, cause?: unknown): OrchestratorError {
  return new OrchestratorError(
    'PORT_IN_USE',
    `PORT: ${port} is in use by another process on ${host}; stop that process or set PORT to a free port`,
    { cause },
  );
}

/**
 * Throws PORT_IN_USE unless `host:port` can be listened on now (port 0 always can). A check made
 * before slow work (building, starting emulators), so that a taken port is said in a second; the
 * server's own listen still reports a port taken meanwhile.
 */
export async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', (err) =>
      reject((err as { code?: unknown }).code === 'EADDRINUSE' ? portInUse(port, host, err) : err),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
