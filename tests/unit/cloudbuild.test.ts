import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

import { DEFAULTS, ENV_VARIABLES, loadConfig } from '../../src/config.js';
import {
  containerArgs,
  definedFlags,
  dictionary,
  flagValue,
  flagValues,
  gcloudHelp,
} from '../helpers/gcloud.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// Strict, so a misspelt key (`waitfor`, `substitution`) fails here rather than being ignored.
const StepSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  entrypoint: z.string().optional(),
  args: z.array(z.string()),
  env: z.array(z.string()).optional(),
  waitFor: z.array(z.string()).optional(),
});
const CloudBuildSchema = z.strictObject({
  steps: z.array(StepSchema).min(1),
  images: z.array(z.string()),
  substitutions: z.record(z.string(), z.string()),
  options: z.strictObject({ dynamicSubstitutions: z.boolean().optional(), logging: z.string().optional() }),
  timeout: z.string().regex(/^\d+s$/),
});
type Step = z.infer<typeof StepSchema>;

const build = CloudBuildSchema.parse(parse(read('cloudbuild.yaml')) as unknown);

function step(id: string): Step {
  const found = build.steps.find((s) => s.id === id);
  if (!found) throw new Error(`cloudbuild.yaml has no step ${id}`);
  return found;
}

// Cloud Build's substitutions: `$NAME` or `${NAME}`; `$$` is a literal dollar sign.
const REFERENCE = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;
// Built in for every build (the trigger-only ones are empty in a `gcloud builds submit`).
const BUILT_INS: Record<string, string> = {
  PROJECT_ID: 'some-project',
  PROJECT_NUMBER: '123456789012',
  BUILD_ID: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  LOCATION: 'global',
};

function references(text: string): string[] {
  return [...text.matchAll(REFERENCE)].flatMap((m) => (m[0] === '$$' ? [] : [(m[1] ?? m[2]) as string]));
}

function substitute(text: string, values: Record<string, string>): string {
  const result = text.replace(REFERENCE, (match, braced?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`${name} is not defined (in ${text})`);
    return value;
  });
  // Whatever is left (bash-style `${_X,,}` and the like) this check does not understand.
  expect(result, `unresolved substitution in ${text}`).not.toContain('$');
  return result;
}

/** The built-ins and every substitution's default, resolved as Cloud Build would. */
function resolvedDefaults(overrides: Record<string, string> = {}): Record<string, string> {
  const values: Record<string, string> = { ...BUILT_INS };
  for (const [name, value] of Object.entries(build.substitutions))
    values[name] = substitute(value, BUILT_INS);
  return { ...values, ...overrides };
}

/** A gcloud duration (`600`, `10m`, `1h5m`) in seconds. */
function seconds(duration: string): number {
  if (/^\d+$/.test(duration)) return Number(duration);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!m || duration === '') throw new Error(`not a duration: ${duration}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

const IMAGE = '${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/${_SERVICE}:$BUILD_ID';

/**
 * The deploy step's arguments for one container (`--container=NAME` up to the next one), or the
 * service's own (before the first `--container`) with `undefined`.
 */
function deployArgs(container?: string): string[] {
  return containerArgs(step('deploy').args, container);
}

describe('cloudbuild.yaml', () => {
  it('installs, tests, builds, pushes and deploys, each step waiting for the one before', () => {
    expect(build.steps.map((s) => s.id)).toEqual(['install', 'test', 'build', 'push', 'deploy']);
    expect(build.steps.map((s) => s.waitFor)).toEqual([['-'], ['install'], ['test'], ['build'], ['push']]);
  });

  it('runs npm ci, then npm test with the Pub/Sub emulator installed, on Node 22 bookworm', () => {
    const install = step('install');
    expect(install.name).toBe('node:22-bookworm');
    expect([install.entrypoint, ...install.args].slice(0, 2)).toEqual(['npm', 'ci']);

    const test = step('test');
    expect(test.name).toBe('node:22-bookworm');
    expect(test.entrypoint).toBe('bash');
    expect(test.args).toEqual(['-c', 'bash deploy/install-emulator.sh && npm test']);
    expect(existsSync(join(ROOT, 'deploy/install-emulator.sh'))).toBe(true);
  });

  it('builds the runtime stage of the Dockerfile, pushes it, deploys it and records it under one tag', () => {
    const docker = step('build');
    expect(docker.name).toBe('gcr.io/cloud-builders/docker');
    expect(docker.args[0]).toBe('build');
    expect(flagValue(docker.args, 'file')).toBe('Dockerfile');
    expect(read('Dockerfile')).toMatch(new RegExp(`^FROM .+ AS ${flagValue(docker.args, 'target')}$`, 'm'));
    expect(flagValue(docker.args, 'tag')).toBe(IMAGE);
    expect(docker.args.at(-1)).toBe('.');

    expect(step('push').args).toEqual(['push', IMAGE]);
    expect(flagValue(deployArgs('app'), 'image')).toBe(IMAGE);
    expect(build.images).toEqual([IMAGE]);
  });

  it('deploys a private Cloud Run service whose request timeout covers the push ack deadline', () => {
    const deploy = step('deploy');
    expect(deploy.name).toBe('gcr.io/google.com/cloudsdktool/cloud-sdk:slim');
    expect([deploy.entrypoint, ...deploy.args.slice(0, 3)]).toEqual([
      'gcloud',
      'run',
      'deploy',
      '${_SERVICE}',
    ]);
    expect(deploy.args).toContain('--no-allow-unauthenticated');
    expect(deploy.args).not.toContain('--allow-unauthenticated');
    // PUSH_AUTH=cloud-run trusts the signature check of Cloud Run's IAM: it must stay on.
    expect(dictionary(flagValue(deployArgs('app'), 'set-env-vars'))['PUSH_AUTH']).toBe('cloud-run');
    expect(deploy.args).not.toContain('--no-invoker-iam-check');
    expect(flagValue(deploy.args, 'region')).toBe('${_REGION}');
    expect(flagValue(deploy.args, 'service-account')).toBe('${_RUNTIME_SERVICE_ACCOUNT}');
    expect(seconds(flagValue(deploy.args, 'timeout'))).toBeGreaterThanOrEqual(
      DEFAULTS.PUSH_ACK_DEADLINE_SECONDS,
    );
  });

  it('routes no request to a new instance before GET /readyz answers', () => {
    const probe = dictionary(flagValue(deployArgs('app'), 'startup-probe'));
    expect(probe['httpGet.path']).toBe('/readyz');
    // Cloud Run's limits: the period at most 240 s, the timeout no longer than the period.
    const period = Number(probe['periodSeconds'] ?? 10);
    expect(period).toBeLessThanOrEqual(240);
    expect(Number(probe['timeoutSeconds'] ?? 1)).toBeLessThanOrEqual(period);
  });

  it('lets Cloud Run accept the audience the app checks push tokens against', () => {
    const deploy = step('deploy');
    const env = dictionary(flagValue(deployArgs('app'), 'set-env-vars'));
    expect(flagValue(deploy.args, 'set-custom-audiences')).toBe('${_PUSH_AUDIENCE},${_OPS_AUDIENCE}');
    expect(env['PUSH_AUDIENCE']).toBe('${_PUSH_AUDIENCE}');
    expect(env['OPS_AUDIENCE']).toBe('${_OPS_AUDIENCE}');
  });

  it('defines every substitution it uses and uses every one it defines', () => {
    const { substitutions, ...rest } = build;
    const used = new Set(references(JSON.stringify(rest)));
    const defined = Object.keys(substitutions);
    for (const name of defined) expect(name).toMatch(/^_[A-Z0-9_]+$/);
    expect([...used].filter((name) => name.startsWith('_') && !defined.includes(name))).toEqual([]);
    expect(defined.filter((name) => !used.has(name))).toEqual([]);
    // Defaults may name built-ins only, and only with dynamic substitutions on.
    const inDefaults = Object.values(substitutions).flatMap(references);
    expect([...used, ...inDefaults].filter((name) => !name.startsWith('_') && !(name in BUILT_INS))).toEqual(
      [],
    );
    expect(inDefaults.filter((name) => name.startsWith('_'))).toEqual([]);
    if (inDefaults.length > 0) expect(build.options.dynamicSubstitutions).toBe(true);
    expect(build.options.logging).toBe('CLOUD_LOGGING_ONLY');
  });

  it('sets only variables the service reads, with values loadConfig accepts', () => {
    const template = flagValue(deployArgs('app'), 'set-env-vars');
    const unknown = Object.keys(dictionary(template)).filter((name) => !ENV_VARIABLES.includes(name));
    expect(unknown).toEqual([]);

    const values = resolvedDefaults();
    // Cloud Run sets K_SERVICE in every instance.
    const onCloudRun = (env: Record<string, string>) => loadConfig({ K_SERVICE: values['_SERVICE'], ...env });
    const config = onCloudRun(dictionary(substitute(template, values)));
    expect(config.pubsub).toMatchObject({
      projectId: 'some-project',
      emulatorHost: undefined,
      underwritingTopic: values['_UNDERWRITING_TOPIC'],
      completedTopic: values['_COMPLETED_TOPIC'],
      deadLetterTopic: values['_DEAD_LETTER_TOPIC'],
    });
    expect(config.push).toMatchObject({
      auth: 'cloud-run',
      audience: values['_PUSH_AUDIENCE'],
      serviceAccount: values['_PUSH_SERVICE_ACCOUNT'],
      ackDeadlineSeconds: DEFAULTS.PUSH_ACK_DEADLINE_SECONDS,
    });
    expect(values['_PUSH_SERVICE_ACCOUNT']).toMatch(
      /^[a-z][a-z0-9-]+@some-project\.iam\.gserviceaccount\.com$/,
    );
    expect(values['_RUNTIME_SERVICE_ACCOUNT']).toMatch(
      /^[a-z][a-z0-9-]+@some-project\.iam\.gserviceaccount\.com$/,
    );

    // What an operator passes for the document service in production.
    const production = resolvedDefaults({
      _DOCUMENTS_URL: 'https://documents-abc123-uc.a.run.app/',
      _DOCUMENTS_AUDIENCE: 'https://documents-abc123-uc.a.run.app',
    });
    // /ops: never open; ID tokens for their own audience, checked behind Cloud Run's IAM check.
    expect(config.ops).toMatchObject({
      auth: 'oidc',
      audience: values['_OPS_AUDIENCE'],
      cloudRunIamChecked: true,
      readers: [],
      operators: [],
    });
    expect(values['_OPS_AUDIENCE']).not.toBe(values['_PUSH_AUDIENCE']);
    const staffed = onCloudRun(
      dictionary(
        substitute(
          template,
          resolvedDefaults({
            _OPS_READERS: 'ann@example.com;*@audit.example.com',
            _OPS_OPERATORS: 'bob@example.com',
          }),
        ),
      ),
    );
    expect(staffed.ops).toMatchObject({
      readers: ['ann@example.com', '*@audit.example.com'],
      operators: ['bob@example.com'],
    });
    const behindIap = onCloudRun(
      dictionary(
        substitute(
          template,
          resolvedDefaults({
            _OPS_AUTH: 'iap',
            _OPS_IAP_AUDIENCE: '/projects/1/locations/us-central1/services/s',
          }),
        ),
      ),
    );
    expect(behindIap.ops).toMatchObject({
      auth: 'iap',
      iapAudience: '/projects/1/locations/us-central1/services/s',
    });

    const withDocuments = onCloudRun(dictionary(substitute(template, production)));
    expect(withDocuments.documentsUrl).toBe('https://documents-abc123-uc.a.run.app');
    expect(withDocuments.documentsAudience).toBe('https://documents-abc123-uc.a.run.app');
  });

  it('sizes the service from the events one instance holds, with bounded instances and the billing stated', () => {
    const service = deployArgs();
    const values = resolvedDefaults();
    const concurrency = Number(substitute(flagValue(service, 'concurrency'), values));
    // Cloud Run's range; the provisional or measured figure, never the old one-event-per-thread 2.
    expect(flagValue(service, 'concurrency')).toBe('${_CONCURRENCY}');
    expect(Number.isInteger(concurrency) && concurrency > 2 && concurrency <= 1000, String(concurrency)).toBe(
      true,
    );
    const min = Number(substitute(flagValue(service, 'min-instances'), values));
    const max = Number(substitute(flagValue(service, 'max-instances'), values));
    expect(Number.isInteger(min) && Number.isInteger(max) && min >= 0 && min <= max, `${min}..${max}`).toBe(
      true,
    );
    // The specification's load: 10 events/s of ~180 s each are ~1,800 in flight; Cloud Run keeps
    // instances near 60 % of --concurrency, and the fleet must hold that with room to spare.
    expect(max * concurrency * 0.6).toBeGreaterThanOrEqual(1.5 * 1_800);
    // Request-based or instance-based billing is a decision the build states, so a setting made
    // by hand does not linger unseen (gcloud keeps what a deploy does not name).
    expect(service.filter((arg) => /^--(no-)?cpu-throttling$/.test(arg))).toHaveLength(1);
    // The comment above says where the figure comes from (deploy.test.ts checks the link).
    const comment =
      read('cloudbuild.yaml').split('- --concurrency=')[0]?.split('\n').slice(-8).join('\n') ?? '';
    expect(comment).toContain('capacity bench');
    expect(comment).toMatch(/docs\/deploying\.md#[a-z-]+/);
  });

  it('uses only flags and startup probe keys that gcloud run deploy accepts', async () => {
    const help = await gcloudHelp('run deploy', "cloudbuild.yaml's gcloud flags");
    const known = definedFlags(help);
    const deploy = step('deploy');
    const used = deploy.args.filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2).split('=')[0]);
    expect(used.length).toBeGreaterThan(5);
    expect(used.filter((flag) => !known.has(flag as string))).toEqual([]);

    const listed = /--startup-probe=[\s\S]*?Currently supported keys are:([\s\S]*?)\n\n/.exec(help)?.[1];
    if (listed === undefined) throw new Error('gcloud run deploy --help lists no startup probe keys');
    const supported = listed
      .replace(/\s+/g, ' ')
      .replace(/\.\s*$/, '')
      .split(',')
      .map((key) => key.trim());
    for (const container of ['app', 'collector']) {
      const keys = Object.keys(dictionary(flagValue(deployArgs(container), 'startup-probe')));
      expect(
        keys.filter((key) => !supported.includes(key)),
        container,
      ).toEqual([]);
    }
  });

  it('runs the Google-built OpenTelemetry Collector beside the service, which exports to it and starts after it', () => {
    const service = deployArgs();
    // Service-wide flags come before the first --container, or gcloud refuses them.
    for (const flag of [
      'region',
      'service-account',
      'timeout',
      'concurrency',
      'min-instances',
      'max-instances',
    ]) {
      expect(flagValues(service, flag), flag).toHaveLength(1);
    }
    const app = deployArgs('app');
    const collector = deployArgs('collector');
    expect(flagValue(app, 'port')).toBe('8080');
    expect(flagValues(collector, 'port')).toEqual([]);
    expect(flagValue(app, 'depends-on')).toBe('collector');
    expect(flagValue(collector, 'image')).toBe('${_COLLECTOR_IMAGE}');
    expect(build.substitutions['_COLLECTOR_IMAGE']).toMatch(
      /^us-docker\.pkg\.dev\/cloud-ops-agents-artifacts\/google-cloud-opentelemetry-collector\/otelcol-google:\d+\.\d+\.\d+$/,
    );
    // The configuration in the repository, mounted where the collector is told to read it.
    const [mount, secret] = flagValue(collector, 'set-secrets').split('=') as [string, string];
    expect(flagValue(collector, 'args')).toBe(`--config=${mount}`);
    expect(secret).toBe('${_COLLECTOR_CONFIG_SECRET}:latest');
    const config = parse(read('deploy/telemetry/collector.yaml')) as {
      receivers: { otlp: { protocols: { http: { endpoint: string } } } };
      extensions: { health_check: { endpoint: string } };
      service: { pipelines: Record<string, { exporters: string[] }> };
    };
    const otlp = config.receivers.otlp.protocols.http.endpoint;
    const env = dictionary(flagValue(app, 'set-env-vars'));
    expect(env['OTEL_EXPORTER_OTLP_ENDPOINT']).toBe(`http://${otlp}`);
    expect(Object.keys(config.service.pipelines).sort()).toEqual(['metrics', 'traces']);
    const probe = dictionary(flagValue(collector, 'startup-probe'));
    expect(config.extensions.health_check.endpoint).toBe(`0.0.0.0:${probe['httpGet.port']}`);
    // The service's telemetry settings are ones loadConfig accepts.
    const values = resolvedDefaults();
    const telemetry = loadConfig({
      K_SERVICE: 'x',
      ...dictionary(substitute(flagValue(app, 'set-env-vars'), values)),
    }).telemetry;
    expect(telemetry.traces).toEqual({ url: `http://${otlp}/v1/traces`, protocol: 'http/protobuf' });
    expect(telemetry.metrics?.url).toBe(`http://${otlp}/v1/metrics`);
  });
});
