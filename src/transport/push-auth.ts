import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

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
 * Keys are cached and refreshed in the background, never fetched per request. With
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
  let keysProblem: string | undefined = 'signing keys not fetched yet';
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
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, {
        algorithms: ['RS256'],
        issuer: push.issuers,
        audience,
        clockTolerance: CLOCK_SKEW_S,
        maxTokenAge: MAX_TOKEN_AGE_S,
        requiredClaims: ['exp', 'iat'],
      }));
    } catch (err) {
      if (keysUnavailable(err)) {
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

// The key set could not be fetched or read: not the token's fault, so Pub/Sub should retry.
function keysUnavailable(err: unknown): boolean {
  if (!(err instanceof errors.JOSEError)) return true;
  return (
    err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err.code === 'ERR_JOSE_GENERIC'
  );
}
