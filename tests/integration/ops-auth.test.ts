import { SignJWT } from 'jose';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { loadConfig } from '../../src/config.js';
import { ProcessingCompletedSchema } from '../../src/events/processing-completed.js';
import { IAP_HEADER, IAP_ISSUER } from '../../src/ops/auth.js';
import { examplesDir } from '../../src/paths.js';
import { startService, type Service } from '../../src/service.js';
import { cli } from '../helpers/cli.js';
import { capturingLog, repoRoot } from '../helpers/fixtures.js';
import {
  AUDIENCE,
  GOOGLE_ISSUER,
  KID,
  PUSH_SA,
  startTestIssuer,
  unsignedToken,
  type TestIssuer,
} from '../helpers/oidc.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';

const pubsubHost = inject('pubsubEmulatorHost');
const OPS_AUDIENCE = 'https://orchestrator.test/ops';
const IAP_AUDIENCE = '/projects/123456/locations/us-central1/services/processor-orchestrator';
const READER = 'reader@example.com';
const OPERATOR = 'alice@ops.example.com';
const STRANGER = 'mallory@example.com';
const CSRF = { 'x-requested-with': 'test' };
const UW = 'uw_ops_auth';

interface Running {
  service: Service;
  base: string;
  lines: Record<string, unknown>[];
}

let pubsub: PubSub;
let google: TestIssuer;
let iap: TestIssuer;
let completed: Collector;
let oidcService: Running;
let iapService: Running;
/** Every token a test sent: none may reach a log. */
const sent: string[] = [];

async function serve(inTopic: string, outTopic: string, env: Record<string, string>): Promise<Running> {
  const subscription = uniqueName('uw-pull');
  await pubsub.topic(inTopic).createSubscription(subscription, { ackDeadlineSeconds: 30 });
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PUBSUB_EMULATOR_HOST: pubsubHost,
    UNDERWRITING_TOPIC: inTopic,
    UNDERWRITING_SUBSCRIPTION: subscription,
    COMPLETED_TOPIC: outTopic,
    PROCESSORS_DIR: `${repoRoot}/tests/fixtures/tally-processors`,
    DOCUMENTS_DIR: `${examplesDir}/documents`,
    PROCESSOR_THREADS: '1',
    PORT: '0',
    LEDGER: 'memory',
    PUSH_AUDIENCE: AUDIENCE,
    PUSH_SERVICE_ACCOUNT: PUSH_SA,
    PUSH_JWKS_URL: google.jwksUrl,
    OPS_READERS: READER,
    OPS_OPERATORS: '*@ops.example.com',
    ...env,
  });
  const { log, lines } = capturingLog();
  // A stand-in for the page: registered in the same scope, it sees who is asking.
  const service = await startService(config, log, '127.0.0.1', {
    opsPage: (scope, api) =>
      scope.get('/', async (request) => ({
        who: request.opsIdentity,
        stats: (await api.stats('1h')).window,
      })),
  });
  return { service, base: `http://127.0.0.1:${service.port}`, lines };
}

const now = () => Math.floor(Date.now() / 1000);

/** An HS256 token keyed with the issuer's public key: the key-confusion forgery. */
async function confused(issuer: TestIssuer, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid: KID })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(await issuer.publicPem()));
}

/** GET an underwriting and POST a re-run of it with these headers: both statuses. */
async function attempt(base: string, headers: Record<string, string>) {
  for (const value of Object.values(headers)) sent.push(value);
  const read = await fetch(`${base}/ops/underwritings/${UW}`, { headers });
  const rerun = await fetch(`${base}/ops/underwritings/${UW}/rerun`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...CSRF, ...headers },
    body: JSON.stringify({ processors: ['fx_tally'], reason: 'auth matrix' }),
  });
  return { read: read.status, rerun: rerun.status };
}

const requested = (running: Running) =>
  running.lines.filter((l) => l['message'] === 're-run requested').length;

beforeAll(async () => {
  [google, iap] = await Promise.all([startTestIssuer('RS256'), startTestIssuer('ES256')]);
  pubsub = emulatorPubSub(pubsubHost);
  const inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  await pubsub.createTopic(inTopic);
  const { subscription } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  completed = collectMessages(subscription);
  process.env['FX_TALLY_FILE'] = '/dev/null';
  [oidcService, iapService] = await Promise.all([
    serve(inTopic, outTopic, { OPS_AUTH: 'oidc', OPS_AUDIENCE, OPS_JWKS_URL: google.jwksUrl }),
    serve(inTopic, outTopic, {
      OPS_AUTH: 'iap',
      OPS_IAP_AUDIENCE: IAP_AUDIENCE,
      OPS_IAP_JWKS_URL: iap.jwksUrl,
    }),
  ]);
  // Both services take it (a subscription each): each ledger has an execution to re-run.
  await pubsub.topic(inTopic).publishMessage({
    data: Buffer.from(
      JSON.stringify({
        event: 'underwriting.created',
        data: { underwriting_id: UW, documents: ['doc_001'], purchased_processors: ['fx_tally'] },
      }),
    ),
  });
  await completed.waitFor(2, 150_000);
}, 240_000);

afterAll(async () => {
  await Promise.all([oidcService?.service.stop('test over'), iapService?.service.stop('test over')]);
  await completed.close();
  await pubsub.close();
  await Promise.all([google.close(), iap.close()]);
  delete process.env['FX_TALLY_FILE'];
}, 60_000);

describe('ops authentication with OPS_AUTH=oidc', { timeout: 120_000 }, () => {
  const token = (claims: Record<string, unknown> = {}, options: Parameters<TestIssuer['sign']>[0] = {}) =>
    google.sign({ claims: { aud: OPS_AUDIENCE, email: OPERATOR, ...claims }, ...options });
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

  it.each([
    ['no token', () => Promise.resolve({}), 401],
    ['a wrong audience', async () => bearer(await token({ aud: 'https://elsewhere.test' })), 401],
    ['a valid push token', async () => bearer(await google.sign()), 401],
    ['an expired token', async () => bearer(await token({ iat: now() - 7200, exp: now() - 3600 })), 401],
    ['a wrong issuer', async () => bearer(await token({ iss: 'https://evil.example.com' })), 401],
    ['an unknown key', async () => bearer(await token({}, { key: await google.strangerKey() })), 401],
    ['an unknown key id', async () => bearer(await token({}, { kid: 'not-a-key' })), 401],
    ['alg: none', () => Promise.resolve(bearer(unsignedToken({ aud: OPS_AUDIENCE, email: OPERATOR }))), 401],
    [
      'HS256 keyed with the public key',
      async () =>
        bearer(
          await confused(google, {
            iss: GOOGLE_ISSUER,
            aud: OPS_AUDIENCE,
            email: OPERATOR,
            email_verified: true,
          }),
        ),
      401,
    ],
    ['an email not listed', async () => bearer(await token({ email: STRANGER })), 403],
    ['an unverified email', async () => bearer(await token({ email_verified: false })), 403],
    ['garbage', () => Promise.resolve(bearer('not.a.token')), 401],
    ['a Basic header', () => Promise.resolve({ authorization: 'Basic YWxpY2U6c2VjcmV0' }), 401],
  ])('refuses %s and re-runs nothing', async (_case, headers, status) => {
    expect(await attempt(oidcService.base, await headers())).toEqual({ read: status, rerun: status });
    expect(requested(oidcService)).toBe(0);
  });

  it('lets a reader read but not re-run', async () => {
    expect(await attempt(oidcService.base, bearer(await token({ email: READER })))).toEqual({
      read: 200,
      rerun: 403,
    });
    expect(requested(oidcService)).toBe(0);
  });

  it('lets the CLI read with --token, and says why without one', async () => {
    const readerToken = await token({ email: READER });
    sent.push(readerToken);
    const ok = await cli(['status', UW, '--url', oidcService.base, '--token', readerToken]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/fx_tally +completed/);
    const refused = await cli([
      'rerun',
      UW,
      '--reason',
      'x',
      '--url',
      oidcService.base,
      '--token',
      readerToken,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('403 reader@example.com is a reader');
    expect(refused.stderr).not.toContain(readerToken);
    const anonymous = await cli(['status', UW, '--url', oidcService.base]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('401 no Authorization header');
    expect(requested(oidcService)).toBe(0);
  });

  it('puts the page registered through startService behind the same authentication', async () => {
    expect((await fetch(`${oidcService.base}/ops`)).status).toBe(401);
    const readerToken = await token({ email: READER });
    sent.push(readerToken);
    const page = await fetch(`${oidcService.base}/ops`, { headers: bearer(readerToken) });
    expect(page.status).toBe(200);
    expect(await page.json()).toEqual({ who: { email: READER, role: 'reader' }, stats: '1h' });
  });

  it('does not take an ops token as a push token', async () => {
    const opsToken = await token();
    sent.push(opsToken);
    const envelope = pushEnvelope(JSON.stringify({ event: 'underwriting.created' }), {
      messageId: 'ops-as-push',
    });
    const response = await postPush(oidcService.base, envelope, { authorization: `Bearer ${opsToken}` });
    expect(response.status).toBe(401);
  });

  it('lets an operator (listed by domain) re-run, once', async () => {
    expect(await attempt(oidcService.base, bearer(await token()))).toEqual({ read: 200, rerun: 202 });
    expect(requested(oidcService)).toBe(1);
    const line = oidcService.lines.find((l) => l['message'] === 're-run requested');
    expect(line).toMatchObject({ requested_by: OPERATOR, reason: 'auth matrix' });
  });
});

describe('ops authentication with OPS_AUTH=iap', { timeout: 120_000 }, () => {
  const assertion = (claims: Record<string, unknown> = {}, options: Parameters<TestIssuer['sign']>[0] = {}) =>
    iap.sign({
      claims: { iss: IAP_ISSUER, aud: IAP_AUDIENCE, email: OPERATOR, ...claims }, // IAP assertions carry no email_verified unless a case adds one.
      omit: 'email_verified' in claims ? [] : ['email_verified'],
      ...options,
    });
  const header = (value: string) => ({ [IAP_HEADER]: value });

  it.each([
    ['no assertion', () => Promise.resolve({}), 401],
    [
      'a Google ID token in Authorization instead',
      async () => ({
        authorization: `Bearer ${await google.sign({ claims: { aud: OPS_AUDIENCE, email: OPERATOR } })}`,
      }),
      401,
    ],
    [
      'a wrong audience',
      async () => header(await assertion({ aud: '/projects/1/global/backendServices/2' })),
      401,
    ],
    [
      'an expired assertion',
      async () => header(await assertion({ iat: now() - 7200, exp: now() - 3600 })),
      401,
    ],
    ['a wrong issuer', async () => header(await assertion({ iss: GOOGLE_ISSUER })), 401],
    ['an unknown key', async () => header(await assertion({}, { key: await iap.strangerKey() })), 401],
    [
      'an RS256 token',
      async () =>
        header(await google.sign({ claims: { iss: IAP_ISSUER, aud: IAP_AUDIENCE, email: OPERATOR } })),
      401,
    ],
    [
      'alg: none',
      () => Promise.resolve(header(unsignedToken({ iss: IAP_ISSUER, aud: IAP_AUDIENCE, email: OPERATOR }))),
      401,
    ],
    [
      'HS256 keyed with the public key',
      async () => header(await confused(iap, { iss: IAP_ISSUER, aud: IAP_AUDIENCE, email: OPERATOR })),
      401,
    ],
    ['an email not listed', async () => header(await assertion({ email: STRANGER })), 403],
    ['an email marked unverified', async () => header(await assertion({ email_verified: false })), 403],
    ['garbage', () => Promise.resolve(header('garbage')), 401],
  ])('refuses %s and re-runs nothing', async (_case, headers, status) => {
    expect(await attempt(iapService.base, await headers())).toEqual({ read: status, rerun: status });
    expect(requested(iapService)).toBe(0);
  });

  it('lets a reader read but not re-run', async () => {
    expect(await attempt(iapService.base, header(await assertion({ email: READER })))).toEqual({
      read: 200,
      rerun: 403,
    });
    expect(requested(iapService)).toBe(0);
  });

  it('lets an operator re-run, once', async () => {
    expect(await attempt(iapService.base, header(await assertion()))).toEqual({ read: 200, rerun: 202 });
    expect(requested(iapService)).toBe(1);
  });
});

describe('the authorization matrix of every /ops route', { timeout: 120_000 }, () => {
  const EPOCH = new Date(0).toISOString();
  /** Every route: reads (readers and operators), and actions (operators only). */
  const ROUTES: { method: 'GET' | 'POST'; path: string; body?: unknown; acts: boolean; operator: number }[] =
    [
      { method: 'GET', path: `/ops/underwritings/${UW}`, acts: false, operator: 200 },
      { method: 'GET', path: '/ops/executions?error_code=PROCESSOR_PAUSED', acts: false, operator: 200 },
      { method: 'GET', path: '/ops/stats', acts: false, operator: 200 },
      { method: 'GET', path: '/ops/processors', acts: false, operator: 200 },
      { method: 'GET', path: '/ops/reruns', acts: false, operator: 200 },
      { method: 'GET', path: '/ops/reruns/no_such_job', acts: false, operator: 404 },
      { method: 'GET', path: '/ops/audit', acts: false, operator: 200 },
      { method: 'GET', path: '/ops', acts: false, operator: 200 },
      {
        method: 'POST',
        path: `/ops/underwritings/${UW}/rerun`,
        body: { processors: ['fx_tally'], reason: 'matrix' },
        acts: true,
        operator: 202,
      },
      {
        method: 'POST',
        path: '/ops/processors/fx_tally/pause',
        body: { reason: 'matrix' },
        acts: true,
        operator: 200,
      },
      {
        method: 'POST',
        path: '/ops/processors/fx_tally/resume',
        body: { reason: 'matrix' },
        acts: true,
        operator: 200,
      },
      // Bulk re-runs select fx_fail_once, which no event here purchases: the re-run of fx_tally
      // above may still be running when fx_tally is paused, and fail as PROCESSOR_PAUSED.
      {
        method: 'POST',
        path: '/ops/reruns',
        body: {
          processors: ['fx_fail_once'],
          status: 'failed',
          since: EPOCH,
          reason: 'matrix',
          dry_run: true,
        },
        acts: true,
        operator: 200,
      },
      // Nothing failed: the operator gets past authorization to "nothing to re-run".
      {
        method: 'POST',
        path: '/ops/reruns',
        body: { processors: ['fx_fail_once'], status: 'failed', since: EPOCH, reason: 'matrix' },
        acts: true,
        operator: 409,
      },
      {
        method: 'POST',
        path: '/ops/reruns/no_such_job/cancel',
        body: { reason: 'matrix' },
        acts: true,
        operator: 404,
      },
    ];
  const token = (email?: string) =>
    google.sign({ claims: { aud: OPS_AUDIENCE, email: email ?? OPERATOR } }).then((t) => {
      sent.push(t);
      return { authorization: `Bearer ${t}` };
    });
  const call = async (route: (typeof ROUTES)[number], headers: Record<string, string>) => {
    const response = await fetch(`${oidcService.base}${route.path}`, {
      method: route.method,
      headers: {
        ...headers,
        ...(route.method === 'POST' && { 'content-type': 'application/json', ...CSRF }),
      },
      ...(route.body !== undefined && { body: JSON.stringify(route.body) }),
    });
    return response.status;
  };
  const audited = async () => {
    const response = await fetch(`${oidcService.base}/ops/audit`, { headers: await token() });
    return ((await response.json()) as { entries: { by: string }[] }).entries;
  };

  it.each([
    ['nobody (no token)', () => Promise.resolve({}), 401, 401],
    ['a stranger (a valid token, not listed)', () => token(STRANGER), 403, 403],
    ['a reader', () => token(READER), 200, 403],
  ])('answers %s: reads %i, actions %i, and nothing is done', async (_who, headers, reads, acts) => {
    const sentHeaders = await headers();
    for (const route of ROUTES) {
      const expected = route.acts ? acts : reads === 200 ? route.operator : reads;
      expect(await call(route, sentHeaders), `${route.method} ${route.path}`).toBe(expected);
    }
    expect((await audited()).filter((e) => e.by !== OPERATOR)).toEqual([]);
  });

  it('lets an operator do each, and records each action', async () => {
    const before = (await audited()).length;
    for (const route of ROUTES) {
      expect(await call(route, await token()), `${route.method} ${route.path}`).toBe(route.operator);
    }
    // The re-run, the pause and the resume (dry runs and refused requests are not actions).
    const entries = await audited();
    expect(entries.length - before).toBe(3);
    expect(entries.slice(0, 3).map((e) => [e.by, (e as unknown as { action: string }).action])).toEqual([
      [OPERATOR, 'resume'],
      [OPERATOR, 'pause'],
      [OPERATOR, 'rerun'],
    ]);
  });
});

describe('ops authentication and the logs', { timeout: 120_000 }, () => {
  it('never writes a token to a log, and says why each request was refused', () => {
    expect(sent.length).toBeGreaterThan(20);
    for (const running of [oidcService, iapService]) {
      const text = running.lines.map((l) => JSON.stringify(l)).join('\n');
      for (const token of sent) {
        // The header value itself, and its signature alone.
        expect(text).not.toContain(token);
        const signature = token.split('.')[2];
        if (signature && signature.length > 16) expect(text).not.toContain(signature);
      }
      expect(
        running.lines.some((l) => l['message'] === 'ops request refused' && typeof l['reason'] === 'string'),
      ).toBe(true);
    }
    // The results published so far all parse: nothing forged got through.
    for (const message of completed.messages) ProcessingCompletedSchema.parse(JSON.parse(message.data));
  });
});
