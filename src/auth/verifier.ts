import {
  UnsecuredJWT,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
} from 'jose';

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

/** One configuration of the verifier: push tokens, ops ID tokens, IAP assertions. */
export interface VerifierOptions {
  /** What the tokens are for, in log lines: `push`, `ops`, `IAP`. */
  label: string;
  jwksUrl: string;
  issuers: string | string[];
  audience: string;
  /** Accepted signature algorithms (never `none`, never an HMAC: the keys are public). */
  algorithms: string[];
  log: Logger;
}

/** A token's claims, or why not: 401 a bad token, 503 its keys cannot be fetched now. */
export type Verified = { ok: true; claims: JWTPayload } | { ok: false; status: 401 | 503; reason: string };

export interface TokenVerifier {
  /** Verifies the signature (a key of the JWKS, an accepted algorithm) and the claims; never rejects. */
  verify(token: string): Promise<Verified>;
  /** The claim checks `verify` applies (issuer, audience, times), for a token verified elsewhere. */
  readonly claimChecks: {
    issuer: string | string[];
    audience: string;
    clockTolerance: number;
    maxTokenAge: number;
    requiredClaims: string[];
  };
  /** Fetches the signing keys now and every few minutes after; never rejects. */
  start(): Promise<void>;
  /** Why tokens cannot be verified now (no keys yet), or `undefined`. */
  notReady(): string | undefined;
  close(): void;
}

/**
 * A JWT verifier over a remote key set, shared by the push route and the operations routes (each
 * with its own audience, issuers, keys and algorithms): keys are cached and refreshed in the
 * background, never fetched per request; a key set that cannot be fetched is told apart from a
 * bad token (503, not 401). Tokens are never logged.
 */
export function createTokenVerifier(options: VerifierOptions): TokenVerifier {
  const { log, label } = options;
  const keys = createRemoteJWKSet(new URL(options.jwksUrl), {
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
  const claimChecks = {
    issuer: options.issuers,
    audience: options.audience,
    clockTolerance: CLOCK_SKEW_S,
    maxTokenAge: MAX_TOKEN_AGE_S,
    requiredClaims: ['exp', 'iat'],
  };
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
      log.warn(
        { jwks_url: options.jwksUrl, err: messageOf(err) },
        `could not fetch the ${label} signing keys`,
      );
    }
  }

  async function verify(token: string): Promise<Verified> {
    try {
      const { payload } = await jwtVerify(token, keyFor, { algorithms: options.algorithms, ...claimChecks });
      return { ok: true, claims: payload };
    } catch (err) {
      if (err instanceof KeysUnavailable) {
        return { ok: false, status: 503, reason: `signing keys unavailable: ${messageOf(err)}` };
      }
      return { ok: false, status: 401, reason: `invalid token: ${messageOf(err)}` };
    }
  }

  return {
    verify,
    claimChecks,
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

/** The token of an `Authorization: Bearer` header, or why there is none. */
export function bearerToken(authorization: string | undefined): { token: string } | { reason: string } {
  const token = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
  if (token !== undefined) return { token };
  return {
    reason: authorization === undefined ? 'no Authorization header' : 'Authorization is not a Bearer token',
  };
}

/** What Cloud Run leaves of a token's signature once its own IAM check has verified it. */
export const REMOVED_SIGNATURE = '.SIGNATURE_REMOVED_BY_GOOGLE';

/**
 * The claims of a token whose signature Cloud Run's IAM check verified and removed: its header
 * must still say RS256; its claims get every check a signed token gets. Throws when they fail.
 * Only for a service whose every request passes that check (`--no-allow-unauthenticated`).
 */
export function strippedClaims(token: string, checks: TokenVerifier['claimChecks']): JWTPayload {
  if (decodeProtectedHeader(token).alg !== 'RS256')
    throw new errors.JWTInvalid('the token was not RS256-signed');
  const [, payload] = token.split('.');
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload ?? ''}.`;
  return UnsecuredJWT.decode(unsigned, checks).payload;
}

class KeysUnavailable extends Error {}

// The key set could not be fetched or read (the network, a timeout, a non-200, not a JWKS):
// not the token's fault, so the caller may retry.
function fetchFailed(err: unknown): boolean {
  if (!(err instanceof errors.JOSEError)) return true;
  return (
    err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err.code === 'ERR_JOSE_GENERIC'
  );
}
