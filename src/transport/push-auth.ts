import {
  UnsecuredJWT,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
} from 'jose';

import type { Config } from '../config.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../logging.js';

// A few seconds of clock drift between hosts must not matter.
const CLOCK_SKEW_S = 30;
// Google's ID tokens live an hour; this also refuses an `iat` in the future.
const MAX_TOKEN_AGE_S = 3600;
// Keys are refreshed in the background this often, so no request waits for a fetch.
const REFRESH_MS = 5 * 60_000;
// Cached keys stay usable this long while refreshes fail.
const CACHE_MAX_AGE_MS = 60 * 60_000;
// A token naming an unknown key may trigger a fetch at most this often.
const UNKNOWN_KEY_COOLDOWN_MS = 60_000;
const FETCH_TIMEOUT_MS = 5_000;
// What Cloud Run leaves of a token's signature once its own IAM check has verified it.
const REMOVED_SIGNATURE = '.SIGNATURE_REMOVED_BY_GOOGLE';

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
    log.warn('PUSH_AUTH=disabled: push requests are accepted without a token (emulator only)');
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
  const keys = createRemoteJWKSet(new URL(push.jwksUrl), {
    cacheMaxAge: CACHE_MAX_AGE_MS,
    cooldownDuration: UNKNOWN_KEY_COOLDOWN_MS,
    timeoutDuration: FETCH_TIMEOUT_MS,
  });
  // The key for a token; a failure to fetch the key set is told apart from a bad token.
  const keyFor = async (...args: Parameters<typeof keys>) => {
    try {
      return await keys(...args);
    } catch (err) {
      throw fetchFailed(err) ? new KeysUnavailable(messageOf(err), { cause: err }) : err;
    }
  };
  // Behind Cloud Run every token arrives without its signature: the keys are fetched only if a
  // signed one ever comes, and readiness does not wait for them.
  const keysNeeded = push.auth === 'required';
  let keysProblem: string | undefined = keysNeeded ? 'signing keys not fetched yet' : undefined;
  let refresh: NodeJS.Timeout | undefined;
  let closed = false;

  async function reload(): Promise<void> {
    try {
      await keys.reload();
      keysProblem = undefined;
    } catch (err) {
      // Keys fetched earlier stay in use; jose fetches again when a request needs it.
      if (keys.jwks() === undefined) keysProblem = `signing keys unavailable: ${messageOf(err)}`;
      log.warn({ jwks_url: push.jwksUrl, err: messageOf(err) }, 'could not fetch the push signing keys');
    }
  }

  async function check(authorization: string | undefined): Promise<PushAuthVerdict> {
    const token = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) {
      const reason =
        authorization === undefined ? 'no Authorization header' : 'Authorization is not a Bearer token';
      return { ok: false, status: 401, reason };
    }
    const claimChecks = {
      issuer: push.issuers,
      audience,
      clockTolerance: CLOCK_SKEW_S,
      maxTokenAge: MAX_TOKEN_AGE_S,
      requiredClaims: ['exp', 'iat'],
    };
    let claims: JWTPayload;
    try {
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
        claims = strippedClaims(token, claimChecks);
      } else {
        ({ payload: claims } = await jwtVerify(token, keyFor, { algorithms: ['RS256'], ...claimChecks }));
      }
    } catch (err) {
      if (err instanceof KeysUnavailable) {
        return { ok: false, status: 503, reason: `signing keys unavailable: ${messageOf(err)}` };
      }
      return { ok: false, status: 401, reason: `invalid token: ${messageOf(err)}` };
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
      if (!keysNeeded) return;
      await reload();
      if (!closed) refresh = setInterval(() => void reload(), REFRESH_MS).unref();
    },
    notReady: () => keysProblem,
    close: () => {
      closed = true;
      clearInterval(refresh);
    },
  };
}

/**
 * The claims of a token whose signature Cloud Run verified and removed (PUSH_AUTH=cloud-run):
 * its header must still say RS256; its claims get every check a signed token gets.
 */
function strippedClaims(token: string, checks: Parameters<typeof UnsecuredJWT.decode>[1]): JWTPayload {
  if (decodeProtectedHeader(token).alg !== 'RS256')
    throw new errors.JWTInvalid('the token was not RS256-signed');
  const [, payload] = token.split('.');
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload ?? ''}.`;
  return UnsecuredJWT.decode(unsigned, checks).payload;
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

class KeysUnavailable extends Error {}

// The key set could not be fetched or read (the network, a timeout, a non-200, not a JWKS):
// not the token's fault, so Pub/Sub should retry.
function fetchFailed(err: unknown): boolean {
  if (!(err instanceof errors.JOSEError)) return true;
  return (
    err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err.code === 'ERR_JOSE_GENERIC'
  );
}
