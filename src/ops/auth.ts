import type { IncomingHttpHeaders } from 'node:http';

import { messageOf } from '../errors.js';
import {
  REMOVED_SIGNATURE,
  bearerToken,
  createTokenVerifier,
  strippedClaims,
  type TokenVerifier,
  type Verified,
} from '../auth/verifier.js';
import type { Config } from '../config.js';
import type { Logger } from '../logging.js';
import type { OpsIdentity } from './views.js';

/** The issuer of every IAP assertion. */
export const IAP_ISSUER = 'https://cloud.google.com/iap';
/** The header IAP adds to every request it lets through. */
export const IAP_HEADER = 'x-goog-iap-jwt-assertion';

/** Who is asking, or why not: 401 no valid token, 403 not allowed, 503 the check cannot run now. */
export type OpsAuthVerdict =
  { ok: true; identity: OpsIdentity } | { ok: false; status: 401 | 403 | 503; reason: string };

export interface OpsAuth {
  readonly mode: Config['ops']['auth'];
  /** Checks a request's credentials and finds the caller's role; never rejects. */
  check(headers: IncomingHttpHeaders): Promise<OpsAuthVerdict>;
  /** Fetches the signing keys now and every few minutes after; never rejects. */
  start(): Promise<void>;
  close(): void;
}

/**
 * Who may use `/ops` (docs/operations.md). `oidc`: a Google-signed RS256 ID token in
 * `Authorization: Bearer`, for `OPS_AUDIENCE`, with a verified `email`. `iap`: the ES256
 * assertion Identity-Aware Proxy adds (`x-goog-iap-jwt-assertion`), for `OPS_IAP_AUDIENCE`.
 * Either way the email must be listed in `OPS_OPERATORS` (operator) or `OPS_READERS` (reader),
 * by address or `*@domain`. Push tokens are for another audience and never listed: they open
 * nothing here. Behind Cloud Run's IAM check (`PUSH_AUTH=cloud-run`, as deployed), an ID token
 * arrives with its signature verified and removed by Cloud Run: its claims get the same checks.
 * `disabled` (the emulator only): everyone is an operator.
 */
export function createOpsAuth(ops: Config['ops'], log: Logger): OpsAuth {
  if (ops.auth === 'disabled') {
    // Refused at start-up off the emulator (see config.ts): nothing to warn about here.
    log.info('OPS_AUTH=disabled: /ops is open to anyone who reaches the port (emulator only)');
    const identity: OpsIdentity = { email: 'anonymous (OPS_AUTH=disabled)', role: 'operator' };
    return fixed('disabled', { ok: true, identity });
  }
  const audience = ops.auth === 'iap' ? ops.iapAudience : ops.audience;
  if (audience === undefined) {
    const reason = '/ops is not configured: OPS_AUDIENCE is not set, so no ops token can be verified';
    log.warn(`${reason}; every /ops request is refused with 503`);
    return fixed(ops.auth, { ok: false, status: 503, reason });
  }
  const verifier: TokenVerifier =
    ops.auth === 'iap'
      ? createTokenVerifier({
          label: 'IAP',
          jwksUrl: ops.iapJwksUrl,
          issuers: IAP_ISSUER,
          audience,
          algorithms: ['ES256'],
          log,
        })
      : createTokenVerifier({
          label: 'ops',
          jwksUrl: ops.jwksUrl,
          issuers: ops.issuers,
          audience,
          algorithms: ['RS256'],
          log,
        });

  async function check(headers: IncomingHttpHeaders): Promise<OpsAuthVerdict> {
    let token: string;
    if (ops.auth === 'iap') {
      const assertion = headers[IAP_HEADER];
      if (typeof assertion !== 'string' || assertion === '') {
        return { ok: false, status: 401, reason: `no ${IAP_HEADER} header (is the service behind IAP?)` };
      }
      token = assertion;
    } else {
      const bearer = bearerToken(headers.authorization);
      if (!('token' in bearer)) return { ok: false, status: 401, reason: bearer.reason };
      token = bearer.token;
    }
    const verified = token.endsWith(REMOVED_SIGNATURE) ? stripped(token) : await verifier.verify(token);
    if (!verified.ok) return verified;
    const { email } = verified.claims;
    if (typeof email !== 'string' || email === '') {
      return { ok: false, status: 403, reason: 'the token names no email' };
    }
    // Google ID tokens say whether the address is verified; IAP vouches for its users itself.
    const emailVerified = verified.claims['email_verified'];
    if (ops.auth === 'iap' ? emailVerified === false : emailVerified !== true) {
      return { ok: false, status: 403, reason: `the email ${email} is not verified in the token` };
    }
    const role = roleOf(email, ops);
    if (!role) {
      return { ok: false, status: 403, reason: `${email} is not in OPS_READERS or OPS_OPERATORS` };
    }
    return { ok: true, identity: { email, role } };
  }

  // Behind Cloud Run's IAM check (the deploy files), every ID token arrives with its signature
  // verified and removed; trusted only where PUSH_AUTH=cloud-run says that check guards the service.
  function stripped(token: string): Verified {
    if (ops.auth !== 'oidc' || !ops.cloudRunIamChecked) {
      return {
        ok: false,
        status: 401,
        reason: "the token's signature was removed by Cloud Run's IAM check, and PUSH_AUTH is not cloud-run",
      };
    }
    try {
      return { ok: true, claims: strippedClaims(token, verifier.claimChecks) };
    } catch (err) {
      return { ok: false, status: 401, reason: `invalid token: ${messageOf(err)}` };
    }
  }

  return { mode: ops.auth, check, start: () => verifier.start(), close: () => verifier.close() };
}

/** `operator` if listed in OPS_OPERATORS, `reader` if in OPS_READERS, else nothing. */
export function roleOf(
  email: string,
  lists: Pick<Config['ops'], 'readers' | 'operators'>,
): OpsIdentity['role'] | undefined {
  const address = email.toLowerCase();
  const domain = `*@${address.slice(address.lastIndexOf('@') + 1)}`;
  const listed = (list: readonly string[]) => list.includes(address) || list.includes(domain);
  if (listed(lists.operators)) return 'operator';
  if (listed(lists.readers)) return 'reader';
  return undefined;
}

function fixed(mode: Config['ops']['auth'], verdict: OpsAuthVerdict): OpsAuth {
  return { mode, check: () => Promise.resolve(verdict), start: () => Promise.resolve(), close() {} };
}
