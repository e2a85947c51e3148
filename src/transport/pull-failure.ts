import { messageOf } from '../errors.js';
import { GRPC, grpcCode } from './pubsub.js';

export const PULL_RETRY = {
  /** Back-off after a failed pull: doubles from the first to the last. */
  ms: [100, 10_000],
} as const;

/**
 * What a failed pull means. The subscription is gone or the service may not pull from it
 * (NOT_FOUND, PERMISSION_DENIED): fatal, with gRPC's own text (without the status prefix,
 * "5 NOT_FOUND: "), and the service must stop. Anything else is retried after a back-off that
 * doubles with each failure in a row (`failures` before this one).
 */
export function afterPullFailure(err: unknown, failures: number): { fatal: string } | { retryInMs: number } {
  const code = grpcCode(err);
  if (code === GRPC.NOT_FOUND || code === GRPC.PERMISSION_DENIED)
    return { fatal: (err as { details?: string }).details || messageOf(err) };
  return { retryInMs: Math.min(PULL_RETRY.ms[1], PULL_RETRY.ms[0] * 2 ** failures) };
}
