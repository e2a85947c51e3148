import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULTS, type Config } from '../../src/config.js';
import { createPushAuth, type PushAuth, type PushAuthVerdict } from '../../src/transport/push-auth.js';
import { capturingLog, silentLog } from '../helpers/fixtures.js';
import {
  AUDIENCE,
  KID,
  PUSH_SA,
  startTestIssuer,
  unsignedToken,
  type SignOptions,
  type TestIssuer,
} from '../helpers/oidc.js';

let issuer: TestIssuer;
let auth: PushAuth;

function pushConfig(overrides: Partial<Config['push']> = {}): Config['push'] {
  return {
    auth: 'required',
    audience: AUDIENCE,
    serviceAccount: PUSH_SA,
    jwksUrl: issuer.jwksUrl,
    issuers: DEFAULTS.PUSH_ISSUERS.split(','),
    ackDeadlineSeconds: DEFAULTS.PUSH_ACK_DEADLINE_SECONDS,
    ...overrides,
  };
}

const bearer = (token: string) => `Bearer ${token}`;
/** What Cloud Run's IAM check forwards: the token with its signature replaced. */
const stripped = (token: string) => `${token.split('.').slice(0, 2).join('.')}.SIGNATURE_REMOVED_BY_GOOGLE`;
const refused = (status: number) => expect.objectContaining({ ok: false, status }) as PushAuthVerdict;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  issuer = await startTestIssuer();
  auth = createPushAuth(pushConfig(), silentLog);
  await auth.start();
});

afterAll(async () => {
  auth.close();
  await issuer.close();
});

describe('push OIDC verification, against keys served on loopback', () => {
  it('accepts a token signed by a published key for our audience and service account', async () => {
    expect(await auth.check(bearer(await issuer.sign()))).toEqual({ ok: true });
  });

  it("accepts both spellings of Google's issuer", async () => {
    const token = await issuer.sign({ claims: { iss: 'accounts.google.com' } });
    expect(await auth.check(bearer(token))).toEqual({ ok: true });
  });

  it('refuses a request without an Authorization header, or with another scheme, with 401', async () => {
    expect(await auth.check(undefined)).toEqual({
      ok: false,
      status: 401,
      reason: 'no Authorization header',
    });
    expect(await auth.check(`Basic ${Buffer.from('a:b').toString('base64')}`)).toEqual(refused(401));
    expect(await auth.check('Bearer')).toEqual(refused(401));
  });

  it.each([
    ['a token for another audience', { claims: { aud: 'https://someone-else.example/push' } }],
    ['an expired token', { claims: { iat: now() - 7200, exp: now() - 300 } }],
    ['a token issued in the future', { claims: { iat: now() + 600, exp: now() + 4200 } }],
    ['a token from another issuer', { claims: { iss: 'https://evil.example' } }],
    ['a token without exp', { omit: ['exp'] }],
    ['a token without iat', { omit: ['iat'] }],
  ])('refuses %s with 401', async (_name, options) => {
    expect(await auth.check(bearer(await issuer.sign(options)))).toEqual(refused(401));
  });

  it('accepts a token that expired within the clock skew', async () => {
    const token = await issuer.sign({ claims: { iat: now() - 3610, exp: now() - 10 } });
    expect(await auth.check(bearer(token))).toEqual({ ok: true });
  });

  it('refuses a valid token for another identity with 403', async () => {
    const other = await issuer.sign({ claims: { email: 'someone@other-project.iam.gserviceaccount.com' } });
    expect(await auth.check(bearer(other))).toEqual(refused(403));
    expect(await auth.check(bearer(await issuer.sign({ omit: ['email'] })))).toEqual(refused(403));
  });

  it('refuses a token whose email is not verified with 403', async () => {
    expect(await auth.check(bearer(await issuer.sign({ claims: { email_verified: false } })))).toEqual(
      refused(403),
    );
    expect(await auth.check(bearer(await issuer.sign({ omit: ['email_verified'] })))).toEqual(refused(403));
  });

  it('refuses tokens signed by a key it does not publish, under an unknown kid or under ours', async () => {
    const key = await issuer.strangerKey();
    expect(await auth.check(bearer(await issuer.sign({ key, kid: 'unknown-kid' })))).toEqual(refused(401));
    expect(await auth.check(bearer(await issuer.sign({ key })))).toEqual(refused(401));
  });

  it('refuses an unsigned token (alg: none) and an HS256 token keyed with the public key', async () => {
    expect(await auth.check(bearer(unsignedToken()))).toEqual(refused(401));
    const confused = await new SignJWT({ aud: AUDIENCE, email: PUSH_SA, email_verified: true })
      .setProtectedHeader({ alg: 'HS256', kid: KID })
      .setIssuer('https://accounts.google.com')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(await issuer.publicPem()));
    expect(await auth.check(bearer(confused))).toEqual(refused(401));
  });

  it.each([
    ['not a JWT', 'garbage'],
    ['three dots of nothing', '..'],
    ['base64 of nonsense', 'eyJhbGciOi.eyJzdWIiOi.c2ln'],
    ['a JSON header that is not an object', `${Buffer.from('[]').toString('base64url')}.e30.c2ln`],
  ])('refuses garbage (%s) with 401', async (_name, token) => {
    expect(await auth.check(bearer(token))).toEqual(refused(401));
  });

  it('fetches the keys once at start, not per request', async () => {
    const own = await startTestIssuer();
    const checker = createPushAuth(pushConfig({ jwksUrl: own.jwksUrl }), silentLog);
    try {
      await checker.start();
      expect(own.fetches()).toBe(1);
      for (let i = 0; i < 20; i += 1)
        expect(await checker.check(bearer(await own.sign()))).toEqual({ ok: true });
      expect(own.fetches()).toBe(1);
    } finally {
      checker.close();
      await own.close();
    }
  });

  it('answers 503 while the keys cannot be fetched, says so in readiness, and recovers', async () => {
    const own = await startTestIssuer();
    own.failJwks(true);
    const { log, lines } = capturingLog();
    const checker = createPushAuth(pushConfig({ jwksUrl: own.jwksUrl }), log);
    try {
      await checker.start();
      expect(checker.notReady()).toMatch(/^signing keys unavailable/);
      expect(lines.some((l) => l['message'] === 'could not fetch the push signing keys')).toBe(true);
      expect(await checker.check(bearer(await own.sign()))).toEqual(refused(503));
      own.failJwks(false);
      expect(await checker.check(bearer(await own.sign()))).toEqual({ ok: true });
    } finally {
      checker.close();
      await own.close();
    }
  });

  it('refuses every push with 503 when auth is required but the audience or identity is not set', async () => {
    for (const missing of [{ audience: undefined }, { serviceAccount: undefined }]) {
      const { log, lines } = capturingLog();
      const checker = createPushAuth(pushConfig(missing), log);
      expect(checker.enabled).toBe(false);
      expect(await checker.check(bearer(await issuer.sign()))).toEqual(refused(503));
      expect(lines.map((l) => l['message'])).toEqual([
        expect.stringMatching(/^push is not configured: PUSH_(AUDIENCE|SERVICE_ACCOUNT) not set/),
      ]);
    }
  });

  it("refuses a token whose signature Cloud Run's IAM check removed, naming the fix, unless PUSH_AUTH=cloud-run", async () => {
    const verdict = await auth.check(bearer(stripped(await issuer.sign())));
    expect(verdict).toEqual(refused(401));
    expect(verdict.ok === false && verdict.reason).toMatch(
      /set PUSH_AUTH=cloud-run, or deploy with --no-invoker-iam-check/,
    );
  });

  it('behind Cloud Run (PUSH_AUTH=cloud-run), checks every claim of a token whose signature Cloud Run removed', async () => {
    const own = await startTestIssuer();
    const cloudRun = createPushAuth(pushConfig({ auth: 'cloud-run', jwksUrl: own.jwksUrl }), silentLog);
    await cloudRun.start();
    try {
      // Tokens arrive without signatures: the keys are not needed to be ready.
      expect(cloudRun.notReady()).toBeUndefined();
      expect(own.fetches()).toBe(0);
      expect(await cloudRun.check(bearer(stripped(await own.sign())))).toEqual({ ok: true });
      const cases: [SignOptions, number][] = [
        [{ claims: { aud: 'https://someone-else.example/push' } }, 401],
        [{ claims: { iat: now() - 7200, exp: now() - 300 } }, 401],
        [{ claims: { iss: 'https://evil.example' } }, 401],
        [{ omit: ['exp'] }, 401],
        [{ claims: { email: 'someone@other-project.iam.gserviceaccount.com' } }, 403],
        [{ claims: { email_verified: false } }, 403],
      ];
      for (const [options, status] of cases) {
        expect(await cloudRun.check(bearer(stripped(await own.sign(options))))).toEqual(refused(status));
      }
      for (const garbage of [
        'x.y',
        '..',
        'eyJhbGciOi.eyJzdWIiOi',
        `${Buffer.from('[]').toString('base64url')}.e30`,
      ]) {
        expect(await cloudRun.check(bearer(`${garbage}.SIGNATURE_REMOVED_BY_GOOGLE`))).toEqual(refused(401));
      }
      // A header that does not claim RS256 is not what Cloud Run verified.
      expect(await cloudRun.check(bearer(stripped(unsignedToken())))).toEqual(refused(401));
      // A token that still has its signature is verified as usual, with keys fetched then.
      expect(await cloudRun.check(bearer(await own.sign()))).toEqual({ ok: true });
      expect(own.fetches()).toBe(1);
      const forged = await own.sign({ key: await own.strangerKey() });
      expect(await cloudRun.check(bearer(forged))).toEqual(refused(401));
    } finally {
      cloudRun.close();
      await own.close();
    }
  });

  it('accepts every push without a token when auth is disabled', async () => {
    const checker = createPushAuth(pushConfig({ auth: 'disabled', audience: undefined }), silentLog);
    expect(checker.enabled).toBe(true);
    expect(await checker.check(undefined)).toEqual({ ok: true });
  });
});
