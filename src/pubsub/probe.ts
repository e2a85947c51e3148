import { get } from 'node:http';

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
  let answer: { status: number; body: string };
  try {
    answer = await getRoot(host, timeoutMs);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : typeof code === 'string'
          ? code
          : messageOf(err);
    throw new OrchestratorError(
      'EMULATOR_UNAVAILABLE',
      `PUBSUB_EMULATOR_HOST: no Pub/Sub emulator at ${host} (${why}); ${WHAT_TO_DO}`,
      { cause: err, hint: WHAT_TO_DO },
    );
  }
  if (answer.status !== 200 || answer.body.trim() !== 'Ok') {
    throw new OrchestratorError(
      'EMULATOR_UNAVAILABLE',
      `PUBSUB_EMULATOR_HOST: ${host} answers, but not as the Pub/Sub emulator does (HTTP ${answer.status}); ${WHAT_TO_DO}`,
      { hint: WHAT_TO_DO },
    );
  }
}

/**
 * `GET http://HOST/`, with node:http rather than `fetch`: `serve` checks the emulator first
 * thing, and loading fetch's client costs a start-up tens of milliseconds.
 */
function getRoot(host: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get(`http://${host}/`, { signal: AbortSignal.timeout(timeoutMs) }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', (err: Error) =>
      // An abort by the timeout signal: say it as fetch would.
      reject(
        err.name === 'AbortError' ? Object.assign(new Error('timed out'), { name: 'TimeoutError' }) : err,
      ),
    );
  });
}
