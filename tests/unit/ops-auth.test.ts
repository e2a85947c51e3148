import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULTS, type Config } from '../../src/config.js';
import { createOpsAuth, roleOf } from '../../src/ops/auth.js';
import { silentLog } from '../helpers/fixtures.js';
import { startTestIssuer, type TestIssuer } from '../helpers/oidc.js';

describe('ops roles', () => {
  const lists = {
    readers: ['reader@example.com', '*@audit.example.com'],
    operators: ['*@ops.example.com', 'boss@example.com'],
  };

  it.each([
    ['boss@example.com', 'operator'],
    ['Alice@Ops.Example.com', 'operator'],
    ['reader@example.com', 'reader'],
    ['anyone@audit.example.com', 'reader'],
    ['mallory@example.com', undefined],
    // A domain matches whole: not a suffix of another domain, not a subdomain.
    ['eve@evilops.example.com', undefined],
    ['eve@x.audit.example.com', undefined],
  ])('gives %s the role %s', (email, role) => {
    expect(roleOf(email, lists)).toBe(role);
  });
});

describe('ops ID tokens behind Cloud Run', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await startTestIssuer();
  });
  afterAll(() => issuer.close());

  const ops = (cloudRunIamChecked: boolean): Config['ops'] => ({
    auth: 'oidc',
    audience: 'ops-aud',
    jwksUrl: issuer.jwksUrl,
    issuers: DEFAULTS.OPS_ISSUERS.split(','),
    iapAudience: undefined,
    iapJwksUrl: DEFAULTS.OPS_IAP_JWKS_URL,
    cloudRunIamChecked,
    readers: ['reader@example.com'],
    operators: [],
    auditTtlDays: DEFAULTS.OPS_AUDIT_TTL_DAYS,
  });
  // What Cloud Run's IAM check leaves of a token it verified.
  const stripped = async (claims: Record<string, unknown>) => {
    const [header, payload] = (await issuer.sign({ claims: { aud: 'ops-aud', ...claims } })).split('.');
    return { authorization: `Bearer ${header}.${payload}.SIGNATURE_REMOVED_BY_GOOGLE` };
  };

  it('checks the claims of a token whose signature Cloud Run removed, where PUSH_AUTH=cloud-run says it checks', async () => {
    const auth = createOpsAuth(ops(true), silentLog);
    expect(await auth.check(await stripped({ email: 'reader@example.com' }))).toEqual({
      ok: true,
      identity: { email: 'reader@example.com', role: 'reader' },
    });
    expect(await auth.check(await stripped({ email: 'reader@example.com', aud: 'push-aud' }))).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await auth.check(await stripped({ email: 'mallory@example.com' }))).toMatchObject({
      ok: false,
      status: 403,
    });
  });

  it('refuses such a token anywhere else', async () => {
    const auth = createOpsAuth(ops(false), silentLog);
    expect(await auth.check(await stripped({ email: 'reader@example.com' }))).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});
