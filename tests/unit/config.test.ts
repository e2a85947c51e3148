import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { DEFAULTS, ENV_VARIABLES, loadConfig } from '../../src/config.js';
import { defaultMaxThreads, defaultThreads } from '../../src/config/processors.js';
import { OrchestratorError } from '../../src/errors.js';
import { builtProcessorsDir } from '../../src/paths.js';
import { repoRoot } from '../helpers/fixtures.js';

function configError(env: Record<string, string>): OrchestratorError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof OrchestratorError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted a bad environment');
}

describe('loadConfig', () => {
  it.each(['WARN', 'Debug', 'error'])('accepts LOG_LEVEL=%s in any case', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level.toLowerCase());
  });

  it('applies the defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      processorsDir: builtProcessorsDir,
      documentsDir: undefined,
      purchasesFile: undefined,
      processorTimeoutMs: DEFAULTS.PROCESSOR_TIMEOUT_MS,
      processorMaxHeapMb: DEFAULTS.PROCESSOR_MAX_HEAP_MB,
      logLevel: 'info',
    });
    expect(config.processorThreads).toBeGreaterThanOrEqual(2);
  });

  it('treats an empty variable as unset and resolves paths', () => {
    const config = loadConfig({
      PROCESSOR_TIMEOUT_MS: '',
      DOCUMENTS_DIR: 'examples/documents',
      PROCESSORS_DIR: '',
    });
    expect(config.processorTimeoutMs).toBe(DEFAULTS.PROCESSOR_TIMEOUT_MS);
    expect(config.documentsDir).toBe(resolve('examples/documents'));
    expect(config.processorsDir).toBe(builtProcessorsDir);
  });

  it('loads PROCESSOR_PACKAGES instead of the built processors, or besides PROCESSORS_DIR', () => {
    expect(loadConfig({ PROCESSOR_PACKAGES: ' @acme/fraud-score , acme-kyb,' })).toMatchObject({
      processorsDir: undefined,
      processorPackages: ['@acme/fraud-score', 'acme-kyb'],
    });
    expect(loadConfig({ PROCESSOR_PACKAGES: '@acme/a', PROCESSORS_DIR: 'plugins' })).toMatchObject({
      processorsDir: resolve('plugins'),
      processorPackages: ['@acme/a'],
    });
    expect(loadConfig({ PROCESSOR_PACKAGES: ' , ' })).toMatchObject({
      processorsDir: builtProcessorsDir,
      processorPackages: [],
    });
  });

  it('uses the memory ledger by default, and reads the Firestore one', () => {
    expect(loadConfig({}).ledger).toMatchObject({
      kind: 'memory',
      databaseId: '(default)',
      collection: 'executions',
      ttlDays: 30,
    });
    expect(
      loadConfig({
        LEDGER: 'firestore',
        GOOGLE_CLOUD_PROJECT: 'p',
        FIRESTORE_DATABASE: 'ledger-db',
        LEDGER_COLLECTION: 'runs',
        LEDGER_TTL_DAYS: '7',
        FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080',
      }).ledger,
    ).toEqual({
      kind: 'firestore',
      projectId: 'p',
      databaseId: 'ledger-db',
      collection: 'runs',
      ttlDays: 7,
      emulatorHost: '127.0.0.1:8080',
    });
  });

  it('reads numbers and levels', () => {
    const config = loadConfig({ PROCESSOR_TIMEOUT_MS: '1500', PROCESSOR_THREADS: '3', LOG_LEVEL: 'debug' });
    expect(config).toMatchObject({ processorTimeoutMs: 1500, processorThreads: 3, logLevel: 'debug' });
  });

  it.each([
    ['PROCESSOR_TIMEOUT_MS', 'abc', 'PROCESSOR_TIMEOUT_MS: must be a whole number from 1 to 3600000'],
    ['PROCESSOR_TIMEOUT_MS', '0', 'PROCESSOR_TIMEOUT_MS: '],
    ['PROCESSOR_TIMEOUT_MS', '1.5', 'PROCESSOR_TIMEOUT_MS: '],
    ['PROCESSOR_THREADS', '-1', 'PROCESSOR_THREADS: '],
    ['PROCESSOR_MAX_HEAP_MB', '8', 'PROCESSOR_MAX_HEAP_MB: '],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal, silent'],
    ['LEDGER', 'redis', 'LEDGER: must be one of firestore, memory, none'],
    ['LEDGER', 'firestore', 'GOOGLE_CLOUD_PROJECT: required with LEDGER=firestore'],
    ['FIRESTORE_DATABASE', 'My_DB', 'FIRESTORE_DATABASE: must be (default) or a database id'],
    ['LEDGER_COLLECTION', 'a/b', 'LEDGER_COLLECTION: must be a collection id'],
    ['LEDGER_COLLECTION', '__x__', 'LEDGER_COLLECTION: must be a collection id'],
    ['LEDGER_TTL_DAYS', '0', 'LEDGER_TTL_DAYS: '],
    ['LEDGER_TTL_DAYS', 'month', 'LEDGER_TTL_DAYS: must be a whole number from 1 to 3650'],
    ['FIRESTORE_EMULATOR_HOST', 'localhost', 'FIRESTORE_EMULATOR_HOST: must be host:port'],
    [
      'PROCESSOR_PACKAGES',
      '@acme/fraud,Acme-KYB',
      'PROCESSOR_PACKAGES: must be comma-separated npm package names ("Acme-KYB" is not one)',
    ],
    ['PROCESSOR_PACKAGES', '../local', 'PROCESSOR_PACKAGES: must be comma-separated npm package names'],
    ['PROCESSOR_PACKAGES', '@acme/a, @acme/a', 'PROCESSOR_PACKAGES: names @acme/a twice'],
  ])('stops with one line naming %s when it is %j', (name, value, line) => {
    const err = configError({ [name]: value });
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message.startsWith(line)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('applies the transport defaults, and sets no ceiling on pulled events unless asked', () => {
    const config = loadConfig({ PROCESSOR_THREADS: '3' });
    expect(config.pubsub).toEqual({
      projectId: undefined,
      emulatorHost: undefined,
      underwritingTopic: 'underwriting-created',
      underwritingSubscription: undefined,
      completedTopic: 'processing-completed',
      deadLetterTopic: undefined,
      pullMaxMessages: undefined,
    });
    expect(config).toMatchObject({ port: 8080, shutdownTimeoutMs: 8000 });
    expect(config.push).toEqual({
      auth: 'required',
      audience: undefined,
      serviceAccount: undefined,
      jwksUrl: 'https://www.googleapis.com/oauth2/v3/certs',
      issuers: ['https://accounts.google.com', 'accounts.google.com'],
      ackDeadlineSeconds: 600,
    });
  });

  it('accepts PUSH_AUTH=cloud-run on Cloud Run, which sets K_SERVICE', () => {
    expect(loadConfig({ PUSH_AUTH: 'cloud-run', K_SERVICE: 'processor-orchestrator' }).push.auth).toBe(
      'cloud-run',
    );
  });

  it('reads the transport variables', () => {
    const config = loadConfig({
      GOOGLE_CLOUD_PROJECT: 'p1',
      PUBSUB_EMULATOR_HOST: 'localhost:8085',
      UNDERWRITING_SUBSCRIPTION: 'projects/p1/subscriptions/uw-sub',
      COMPLETED_TOPIC: 'done',
      DEAD_LETTER_TOPIC: 'dead',
      PULL_MAX_MESSAGES: '7',
      PORT: '0',
      DOCUMENTS_URL: 'https://docs.internal/v1/',
      PUSH_AUTH: 'disabled',
      PUSH_ISSUERS: ' https://a.example , b ',
    });
    expect(config.pubsub).toMatchObject({
      projectId: 'p1',
      emulatorHost: 'localhost:8085',
      underwritingSubscription: 'projects/p1/subscriptions/uw-sub',
      completedTopic: 'done',
      deadLetterTopic: 'dead',
      pullMaxMessages: 7,
    });
    expect(config.port).toBe(0);
    expect(config.documentsUrl).toBe('https://docs.internal/v1');
    expect(config.push).toMatchObject({ auth: 'disabled', issuers: ['https://a.example', 'b'] });
  });

  it.each([
    [{ COMPLETED_TOPIC: 'ab' }, 'COMPLETED_TOPIC: must be a Pub/Sub name'],
    [{ UNDERWRITING_SUBSCRIPTION: '1sub' }, 'UNDERWRITING_SUBSCRIPTION: must be a Pub/Sub name'],
    [{ PUBSUB_EMULATOR_HOST: 'localhost' }, 'PUBSUB_EMULATOR_HOST: must be host:port'],
    [{ PUBSUB_EMULATOR_HOST: 'localhost:8085' }, 'GOOGLE_CLOUD_PROJECT: required with PUBSUB_EMULATOR_HOST'],
    [{ PORT: '70000' }, 'PORT: '],
    [{ PULL_MAX_MESSAGES: '0' }, 'PULL_MAX_MESSAGES: '],
    [{ DOCUMENTS_URL: 'ftp://x' }, 'DOCUMENTS_URL: must be an http:// or https:// URL'],
    [
      { DOCUMENTS_URL: 'https://x', DOCUMENTS_DIR: 'd' },
      'DOCUMENTS_DIR: set DOCUMENTS_URL or DOCUMENTS_DIR, not both',
    ],
    [{ PUSH_AUTH: 'off' }, 'PUSH_AUTH: must be one of required, cloud-run, disabled'],
    [
      { PUSH_AUTH: 'cloud-run' },
      'PUSH_AUTH: "cloud-run" trusts Cloud Run\'s IAM check and is refused off Cloud Run',
    ],
    [{ PUSH_AUTH: 'disabled' }, 'PUSH_AUTH: "disabled" is refused unless PUBSUB_EMULATOR_HOST is set'],
    [{ PUSH_ACK_DEADLINE_SECONDS: '5' }, 'PUSH_ACK_DEADLINE_SECONDS: '],
    [{ OPS_AUTH: 'open' }, 'OPS_AUTH: must be one of oidc, iap, disabled'],
    [{ OPS_AUTH: 'disabled' }, 'OPS_AUTH: "disabled" is refused unless PUBSUB_EMULATOR_HOST is set'],
    [{ OPS_AUTH: 'iap' }, 'OPS_IAP_AUDIENCE: required with OPS_AUTH=iap'],
    [{ OPS_AUDIENCE: 'same', PUSH_AUDIENCE: 'same' }, 'OPS_AUDIENCE: must differ from PUSH_AUDIENCE'],
    [{ OPS_READERS: 'alice' }, 'OPS_READERS: must be comma-separated emails or *@domain'],
    [{ OPS_OPERATORS: 'a@b.com, *@*.com' }, 'OPS_OPERATORS: must be comma-separated emails or *@domain'],
    [{ OPS_OPERATORS: 'bob@example' }, 'OPS_OPERATORS: must be comma-separated emails or *@domain'],
    [{ OPS_JWKS_URL: 'file:///keys' }, 'OPS_JWKS_URL: must be an http:// or https:// URL'],
    [{ OPS_IAP_JWKS_URL: 'nope' }, 'OPS_IAP_JWKS_URL: must be an http:// or https:// URL'],
  ])('stops with one line naming the variable for %j', (env, line) => {
    const err = configError(env);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message.startsWith(line)).toBe(true);
    expect(err.message).not.toContain('\n');
  });
});

describe('what the sections report', () => {
  it.each([
    [
      { PUSH_AUTH: 'disabled', PUBSUB_EMULATOR_HOST: 'localhost' },
      'PUBSUB_EMULATOR_HOST: must be host:port, e.g. localhost:8085',
    ],
    [
      { LEDGER: 'firestore', LEDGER_TTL_DAYS: 'week' },
      'LEDGER_TTL_DAYS: must be a whole number from 1 to 3650',
    ],
    [
      { OPS_AUTH: 'iap', PORT: 'x', DOCUMENTS_URL: 'https://a', DOCUMENTS_DIR: 'd' },
      'PORT: must be a whole number from 0 to 65535',
    ],
  ])('reports no rule while a value is bad: %j', (env, line) => {
    expect(configError(env).message).toBe(line);
  });

  it('reports every bad value, whatever their sections, on one line', () => {
    const { message } = configError({ PORT: 'x', PROCESSOR_TIMEOUT_MS: 'y', OPS_READERS: 'bob' });
    expect(message.split('; ').sort()).toEqual([
      'OPS_READERS: must be comma-separated emails or *@domain ("bob" is neither)',
      'PORT: must be a whole number from 0 to 65535',
      'PROCESSOR_TIMEOUT_MS: must be a whole number from 1 to 3600000',
    ]);
  });

  it('reports one refused rule at a time', () => {
    const err = configError({
      LEDGER: 'firestore',
      OPS_AUTH: 'iap',
      DOCUMENTS_URL: 'https://a',
      DOCUMENTS_DIR: 'd',
    });
    expect(err.message).toMatch(/^[A-Z_]+: /);
    expect(err.message).not.toContain(';');
  });

  it('lists each variable once', () => {
    expect(new Set(ENV_VARIABLES).size).toBe(ENV_VARIABLES.length);
  });

  it('keeps K_SERVICE, which Cloud Run sets, out of the variables an operator sets', () => {
    expect(ENV_VARIABLES).not.toContain('K_SERVICE');
  });
});

describe('the thread defaults', () => {
  it.each([
    [1, 2],
    [2, 2],
    [8, 8],
    [300, 256],
  ])('keeps %i cores as %i threads', (cores, threads) => {
    expect(defaultThreads(cores)).toBe(threads);
  });

  it.each([
    [256 * 2 ** 20, 4],
    [2 * 2 ** 30, 16],
    [4 * 2 ** 30, 32],
    [64 * 2 ** 30, 64],
  ])('allows %i bytes of memory %i threads at most', (memory, threads) => {
    expect(defaultMaxThreads(memory)).toBe(threads);
  });
});

describe('ops configuration', () => {
  it('defaults to oidc with Google keys and nobody listed: /ops is never open by default', () => {
    expect(loadConfig({}).ops).toEqual({
      auth: 'oidc',
      audience: undefined,
      jwksUrl: DEFAULTS.OPS_JWKS_URL,
      issuers: ['https://accounts.google.com', 'accounts.google.com'],
      iapAudience: undefined,
      iapJwksUrl: 'https://www.gstatic.com/iap/verify/public_key-jwk',
      cloudRunIamChecked: false,
      readers: [],
      operators: [],
      auditTtlDays: 400,
    });
    expect(loadConfig({ OPS_AUDIT_TTL_DAYS: '30' }).ops.auditTtlDays).toBe(30);
    expect(() => loadConfig({ OPS_AUDIT_TTL_DAYS: '0' })).toThrow(/^OPS_AUDIT_TTL_DAYS: /);
  });

  it('reads the lists as lower-case emails and *@domain, and iap with its audience', () => {
    const config = loadConfig({
      OPS_AUTH: 'iap',
      OPS_IAP_AUDIENCE: '/projects/1/locations/r/services/s',
      OPS_READERS: ' Reader@Example.com ;*@audit.example.com,',
      OPS_OPERATORS: 'ops@example.com',
    });
    expect(config.ops).toMatchObject({
      auth: 'iap',
      iapAudience: '/projects/1/locations/r/services/s',
      readers: ['reader@example.com', '*@audit.example.com'],
      operators: ['ops@example.com'],
    });
  });

  it('accepts OPS_AUTH=disabled on the emulator only', () => {
    expect(
      loadConfig({ OPS_AUTH: 'disabled', PUBSUB_EMULATOR_HOST: 'localhost:8085', GOOGLE_CLOUD_PROJECT: 'p' })
        .ops.auth,
    ).toBe('disabled');
  });
});

describe('the configuration table in docs/configuration.md', () => {
  it('lists every variable the service reads, and no other', () => {
    const section = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` +\|/gm)].map(([, name]) => name);
    expect([...documented].sort()).toEqual([...ENV_VARIABLES].sort());
  });
});
