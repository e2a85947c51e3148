import { OrchestratorError, messageOf } from '../errors.js';

/** How long the emulator has to answer before the command gives up (a user waits for this). */
export const EMULATOR_PROBE_TIMEOUT_MS = 3_000;

const WHAT_TO_DO = 'start it (`npm start` starts one), or fix or unset PUBSUB_EMULATOR_HOST';

/**
 * Checks that the Pub/Sub emulator answers at `host` (its HTTP root says `Ok`), so that a wrong
 * or dead `PUBSUB_EMULATOR_HOST` is one clear line within seconds, not a gRPC client retrying for
 * a minute. Throws EMULATOR_UNAVAILABLE naming the host and what to do.
 */
export async function checkEmulator(host: string, timeoutMs = EMULATOR_PROBE_TIMEOUT_MS): Promise<void> {
  let status: number;
  let body: string;
  try {
    const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(timeoutMs) });
    status = response.status;
    body = (await response.text()).trim();
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : typeof cause === 'string'
          ? cause
          : messageOf(err);
    throw new OrchestratorError(
      'EMULATOR_UNAVAILABLE',
      `PUBSUB_EMULATOR_HOST: no Pub/Sub emulator at ${host} (${why}); ${WHAT_TO_DO}`,
      { cause: err, hint: WHAT_TO_DO },
    );
  }
  if (status !== 200 || body !== 'Ok') {
    throw new OrchestratorError(
      'EMULATOR_UNAVAILABLE',
      `PUBSUB_EMULATOR_HOST: ${host} answers, but not as the Pub/Sub emulator does (HTTP ${status}); ${WHAT_TO_DO}`,
      { hint: WHAT_TO_DO },
    );
  }
}
