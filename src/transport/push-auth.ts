import type { JWTPayload } from 'jose';

import { REMOVED_SIGNATURE, bearerToken, createTokenVerifier, strippedClaims } from '../auth/verifier.js';
import type { Config } from '../config.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logging.js';

/** Why a push is refused: 401 bad token, 403 wrong identity, 503 the check itself cannot run. */
export type PushAuthVerdict = { ok: true } | { ok: false; status: 401 | 403 | 503; reason: string };

export interface PushAuth {
  /** Whether pushes can be accepted at all (auth disabled, or audience and identity set). */
  readonly enabled: boolean;
  /** Checks the `Authorization` header of a push request; never rejects. */
  check(authorization: string | undefined): Promise<PushAuthVerdict>;
  /** Fetches the signing keys now and every few minutes after; never rejects. */
  start(): Promise<void>;
  /** Why pushes cannot be verified now, or `undefined`. */
  notReady(): string | undefined;
  close(): void;
}

/**
 * Verifies the OIDC token Pub/Sub attaches to every push: an RS256 JWT signed by a key at
 * `PUSH_JWKS_URL`, `iss` one of `PUSH_ISSUERS`, `aud` = `PUSH_AUDIENCE`, `email` =
 * `PUSH_SERVICE_ACCOUNT` with `email_verified`, and `exp`/`iat` within a small clock skew.
 * Keys are cached and refreshed in the background, never fetched per request. Behind Cloud
 * Run's IAM check (`PUSH_AUTH=cloud-run`), a token arrives with its signature already verified
 * and replaced by `SIGNATURE_REMOVED_BY_GOOGLE`: its claims get the same checks. With
 * `PUSH_AUTH=disabled` (the emulator, which signs nothing) every push is accepted; with auth
 * required but no audience or identity to check, every push is refused.
 */
export function createPushAuth(push: Config['push'], log: Logger): PushAuth {
  if (push.auth === 'disabled') {
    // Refused at start-up off the emulator (see config.ts): nothing to warn about here.
    log.info('PUSH_AUTH=disabled: push requests are accepted without a token (emulator only)');
    return unchecked(true, { ok: true });
  }
  const missing = [
    push.audience ? undefined : 'PUSH_AUDIENCE',
    push.serviceAccount ? undefined : 'PUSH_SERVICE_ACCOUNT',
  ].filter((name) => name !== undefined);
  if (missing.length > 0) {
    const reason = `push is not configured: ${missing.join(' and ')} not set, so no push token can be verified`;
    log.warn(`${reason}; every POST /pubsub/push is refused with 503`);
    return unchecked(false, { ok: false, status: 503, reason });
  }
  const audience = push.audience as string;
  const serviceAccount = push.serviceAccount as string;
  const verifier = createTokenVerifier({
    label: 'push',
    jwksUrl: push.jwksUrl,
    issuers: push.issuers,
    audience,
    algorithms: ['RS256'],
    log,
  });
  // Behind Cloud Run every token arrives without its signature: the keys are fetched only if a
  // signed one ever comes, and readiness does not wait for them.
  const keysNeeded = push.auth === 'required';

  async function check(authorization: string | undefined): Promise<PushAuthVerdict> {
    const bearer = bearerToken(authorization);
    if (!('token' in bearer)) return { ok: false, status: 401, reason: bearer.reason };
    const { token } = bearer;
    let claims: JWTPayload;
    if (token.endsWith(REMOVED_SIGNATURE)) {
      if (push.auth !== 'cloud-run') {
        return {
          ok: false,
          status: 401,
          reason:
            "the token's signature was removed by Cloud Run's IAM check: set PUSH_AUTH=cloud-run, " +
            'or deploy with --no-invoker-iam-check so that the service verifies it',
        };
      }
      try {
        claims = strippedClaims(token, verifier.claimChecks);
      } catch (err) {
        return { ok: false, status: 401, reason: `invalid token: ${messageOf(err)}` };
      }
    } else {
      const verified = await verifier.verify(token);
      if (!verified.ok) return verified;
      claims = verified.claims;
    }
    if (claims['email'] !== serviceAccount) {
      const email = typeof claims['email'] === 'string' ? claims['email'] : 'no email';
      return { ok: false, status: 403, reason: `token is for ${email}, not ${serviceAccount}` };
    }
    if (claims['email_verified'] !== true) {
      return {
        ok: false,
        status: 403,
        reason: `the email of ${serviceAccount} is not verified in the token`,
      };
    }
    return { ok: true };
  }

  return {
    enabled: true,
    check,
    start: async () => {
      if (keysNeeded) await verifier.start();
    },
    notReady: () => (keysNeeded ? verifier.notReady() : undefined),
    close: () => verifier.close(),
  };
}

// Every push gets the same verdict, without a token being looked at.
function unchecked(enabled: boolean, verdict: PushAuthVerdict): PushAuth {
  return {
    enabled,
    check: () => Promise.resolve(verdict),
    start: () => Promise.resolve(),
    notReady: () => undefined,
    close() {},
  };
}
