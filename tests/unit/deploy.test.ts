import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

import { DEFAULTS, loadConfig } from '../../src/config.js';
import { parseDockerfile } from '../helpers/dockerfile.js';
import { containerArgs, definedFlags, dictionary, flagValue, gcloudHelp } from '../helpers/gcloud.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const SCRIPTS = readdirSync(DEPLOY).filter((name) => name.endsWith('.sh'));
/** The scripts an operator runs; the others are sourced by them. */
const ENTRY_POINTS = [
  'setup.sh',
  'subscribe.sh',
  'telemetry.sh',
  'pull.sh',
  'scale-pull.sh',
  'install-emulator.sh',
];

const PROJECT = 'some-project';
const PROJECT_NUMBER = '123456789012';
const BUILD_SA = `${PROJECT_NUMBER}-compute@developer.gserviceaccount.com`;
const PUBSUB_AGENT = `service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
const SERVICE_URL = 'https://processor-orchestrator-abc123-uc.a.run.app';
const TOKEN = 'ya29.fake-access-token';
/** What the fake `gcloud artifacts docker images list` finds: the newest image of the service. */
const BUILT_IMAGE = `us-central1-docker.pkg.dev/${PROJECT}/processor-orchestrator/processor-orchestrator@sha256:${'ab'.repeat(32)}`;

// Stands in for gcloud: records every call (arguments separated by \x1f, one call a line) and
// answers what the scripts ask. `describe` and `list` find a resource only when FAKE_EXISTING=1;
// a worker pool found has FAKE_INSTANCES instances.
const FAKE_GCLOUD = `#!/usr/bin/env bash
{ printf '%s\\x1f' "$@"; printf '\\n'; } >> "$FAKE_GCLOUD_LOG"
case " $* " in
  *" auth print-access-token "*) echo ${TOKEN} ;;
  *" artifacts docker images list "*) [[ "$FAKE_NO_IMAGE" == 1 ]] || echo ${BUILT_IMAGE} ;;
  *" worker-pools describe "*) [[ "$FAKE_EXISTING" == 1 ]] ||
    { echo "ERROR: (gcloud.beta.run.worker-pools.describe) Cannot find worker pool" >&2; exit 1; }
    echo "$FAKE_INSTANCES" ;;
  *" projects describe "*) echo ${PROJECT_NUMBER} ;;
  *" builds get-default-service-account "*) echo "projects/${PROJECT}/serviceAccounts/${BUILD_SA}" ;;
  *" run services describe "*) [[ "$FAKE_NO_SERVICE" == 1 ]] && { echo "ERROR: not found" >&2; exit 1; }
    echo ${SERVICE_URL} ;;
  *" indexes composite create "*) [[ "$FAKE_EXISTING" == 1 ]] &&
    { echo "ERROR: (gcloud.firestore.indexes.composite.create) ALREADY_EXISTS: index already exists" >&2; exit 1; } ;;
  *" describe "*) [[ "$FAKE_EXISTING" == 1 ]] || { echo "ERROR: NOT_FOUND" >&2; exit 1; } ;;
  *" list "*) [[ "$FAKE_EXISTING" == 1 ]] && echo "projects/${PROJECT}/found/1" ;;
esac
exit 0
`;

// Stands in for curl (Cloud Monitoring): records its arguments like the fake gcloud, and what it
// read on stdin; answers a time series whose points are FAKE_UNACKED (comma-separated), none
// when it is empty, or a 403 when FAKE_CURL_FAIL=1.
const FAKE_CURL = `#!/usr/bin/env bash
{ printf '%s\\x1f' "$@"; printf '\\n'; } >> "$FAKE_CURL_LOG"
cat >> "$FAKE_CURL_LOG.stdin"
if [[ "$FAKE_CURL_FAIL" == 1 ]]; then
  echo '{"error":{"code":403,"message":"Permission monitoring.timeSeries.list denied"}}'
  exit 22
fi
points=""
for n in \${FAKE_UNACKED//,/ }; do points+="\${points:+,}{\\"value\\":{\\"int64Value\\":\\"$n\\"}}"; done
if [[ -z "$points" ]]; then echo '{}'; else echo "{\\"timeSeries\\":[{\\"points\\":[$points]}]}"; fi
`;

const cloudbuild = z
  .object({
    steps: z.array(z.object({ id: z.string(), args: z.array(z.string()) })),
    substitutions: z.record(z.string(), z.string()),
  })
  .parse(parse(readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8')) as unknown);

/** The arguments of cloudbuild.yaml's Cloud Run deploy step. */
const cloudbuildDeploy = (() => {
  const step = cloudbuild.steps.find((s) => s.id === 'deploy');
  if (!step) throw new Error('cloudbuild.yaml has no deploy step');
  return step.args;
})();

/** The defaults of cloudbuild.yaml's substitutions for PROJECT, which the scripts must share. */
const defaults = (() => {
  const { substitutions } = cloudbuild;
  const value = (name: string) => {
    const v = substitutions[name];
    if (v === undefined) throw new Error(`cloudbuild.yaml does not define ${name}`);
    return v.replaceAll('${PROJECT_ID}', PROJECT);
  };
  return {
    region: value('_REGION'),
    repository: value('_REPOSITORY'),
    service: value('_SERVICE'),
    underwritingTopic: value('_UNDERWRITING_TOPIC'),
    completedTopic: value('_COMPLETED_TOPIC'),
    deadLetterTopic: value('_DEAD_LETTER_TOPIC'),
    pushAudience: value('_PUSH_AUDIENCE'),
    pushServiceAccount: value('_PUSH_SERVICE_ACCOUNT'),
    runtimeServiceAccount: value('_RUNTIME_SERVICE_ACCOUNT'),
    collectorConfigSecret: value('_COLLECTOR_CONFIG_SECRET'),
    collectorImage: value('_COLLECTOR_IMAGE'),
    concurrency: value('_CONCURRENCY'),
    traceSampleRatio: value('_TRACE_SAMPLE_RATIO'),
  };
})();

/** The request timeout cloudbuild.yaml deploys with, in seconds. */
function cloudRunTimeoutSeconds(): number {
  const text = readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8');
  const timeout = /^\s*- --timeout=(\d+)$/m.exec(text)?.[1];
  if (timeout === undefined) throw new Error('cloudbuild.yaml deploys with no --timeout=SECONDS');
  return Number(timeout);
}

interface Call {
  /** `pubsub subscriptions create`, … */
  command: string;
  positionals: string[];
  flags: Record<string, string | true>;
  args: string[];
}

// How many words name the command, by its first three, two or one words (`pubsub topics create`
// is three, `scheduler jobs create http` four).
const COMMAND_WORDS: Record<string, number> = {
  'scheduler jobs create': 4,
  'scheduler jobs update': 4,
  scheduler: 3,
  auth: 2,
  'artifacts docker': 4,
  'firestore databases': 3,
  firestore: 4,
  services: 2,
  projects: 2,
  builds: 2,
  artifacts: 3,
  iam: 3,
  pubsub: 3,
  run: 3,
  beta: 4,
  alpha: 4,
  monitoring: 3,
  'secrets versions': 3,
  secrets: 2,
};

// Flags gcloud takes more than once (a deploy's are once per --container); their values are
// kept, space-separated.
const REPEATABLE = new Set(['field-config', 'container', 'image', 'cpu', 'memory']);

function toCall(args: string[]): Call {
  const words = args.filter((arg) => !arg.startsWith('--'));
  const depth = [3, 2, 1].map((n) => COMMAND_WORDS[words.slice(0, n).join(' ')]).find((d) => d !== undefined);
  if (depth === undefined) throw new Error(`unexpected gcloud call: gcloud ${args.join(' ')}`);
  const flags: Record<string, string | true> = {};
  for (const arg of args.filter((a) => a.startsWith('--'))) {
    const at = arg.indexOf('=');
    const name = at < 0 ? arg.slice(2) : arg.slice(2, at);
    const value = at < 0 ? true : arg.slice(at + 1);
    if (name in flags) {
      if (!REPEATABLE.has(name)) throw new Error(`--${name} given twice: gcloud ${args.join(' ')}`);
      flags[name] = `${String(flags[name])} ${String(value)}`;
    } else {
      flags[name] = value;
    }
  }
  return { command: words.slice(0, depth).join(' '), positionals: words.slice(depth), flags, args };
}

const READ_ONLY = /(^| )(describe|list|get-default-service-account|print-access-token)$/;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: Call[];
  /** Each curl call's arguments. */
  curls: string[][];
  /** What curl read on stdin, all calls together. */
  curlStdin: string;
}

let work: string;
let runs = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'deploy-test-'));
  for (const [name, text] of [
    ['gcloud', FAKE_GCLOUD],
    ['curl', FAKE_CURL],
  ] as const) {
    writeFileSync(join(work, name), text);
    chmodSync(join(work, name), 0o755);
  }
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/**
 * Runs a deploy script with the fake gcloud first on PATH, in an environment of its own (so a
 * REGION or SERVICE in the developer's shell does not leak in).
 */
function run(script: string, env: Record<string, string | undefined> = {}): Run {
  const log = join(work, `calls-${++runs}.log`);
  const curlLog = join(work, `curl-${runs}.log`);
  const environment: Record<string, string> = {
    PATH: `${work}:${process.env['PATH'] ?? ''}`,
    HOME: work,
    FAKE_GCLOUD_LOG: log,
    FAKE_CURL_LOG: curlLog,
    PROJECT,
  };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete environment[name];
    else environment[name] = value;
  }
  const result = spawnSync('bash', [join(DEPLOY, script)], {
    encoding: 'utf8',
    env: environment,
    timeout: 15_000,
  });
  if (result.error) throw result.error;
  const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  const calls = lines.map((line) => toCall(line.split('\x1f').slice(0, -1)));
  const curls = existsSync(curlLog)
    ? readFileSync(curlLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\x1f').slice(0, -1))
    : [];
  const curlStdin = existsSync(`${curlLog}.stdin`) ? readFileSync(`${curlLog}.stdin`, 'utf8') : '';
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls, curls, curlStdin };
}

function succeeded(result: Run): Run {
  expect(result.status, result.stderr).toBe(0);
  return result;
}

const changes = (result: Run) => result.calls.filter((call) => !READ_ONLY.test(call.command));

function only(calls: Call[], command: string, positional?: string): Call {
  const found = calls.filter(
    (c) => c.command === command && (positional === undefined || c.positionals[0] === positional),
  );
  if (found.length !== 1)
    throw new Error(`expected one \`gcloud ${command} ${positional ?? ''}\`, got ${found.length}`);
  return found[0] as Call;
}

/** Every IAM binding a run adds, as `resource member role`, sorted. */
function bindings(result: Run): string[] {
  return result.calls
    .filter((call) => call.command.endsWith(' add-iam-policy-binding'))
    .map(
      (call) =>
        `${call.command.replace(/ add-iam-policy-binding$/, '')} ${call.positionals[0]} ${String(call.flags['member'])} ${String(call.flags['role'])}`,
    )
    .sort();
}

describe('deploy scripts', () => {
  it('are valid bash, stop at the first error, and the entry points are executable', () => {
    expect(SCRIPTS).toEqual(expect.arrayContaining(ENTRY_POINTS));
    for (const script of SCRIPTS) {
      const check = spawnSync('bash', ['-n', join(DEPLOY, script)], { encoding: 'utf8' });
      expect(check.status, `${script}: ${check.stderr}`).toBe(0);
    }
    for (const script of ENTRY_POINTS) {
      const text = readFileSync(join(DEPLOY, script), 'utf8');
      expect(text.startsWith('#!/usr/bin/env bash\n'), script).toBe(true);
      expect(text, script).toMatch(/^set -euo pipefail$/m);
      expect(statSync(join(DEPLOY, script)).mode & 0o111, `${script} is not executable`).toBe(0o111);
    }
  });

  it('refuse to run without PROJECT, before calling gcloud', () => {
    for (const script of ['setup.sh', 'subscribe.sh', 'telemetry.sh']) {
      const result = run(script, { PROJECT: undefined });
      expect(result.status, script).not.toBe(0);
      expect(result.stderr, script).toContain('set PROJECT');
      expect(result.calls, script).toEqual([]);
    }
  });
});

/** GitHub's anchor of a heading (as tests/unit/docs.test.ts reckons it). */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

describe('deploy scripts and cloudbuild.yaml', () => {
  it('point only at documentation sections that exist', () => {
    const files = [...SCRIPTS, 'Dockerfile']
      .map((name) => join(DEPLOY, name))
      .concat(join(ROOT, 'cloudbuild.yaml'));
    const links = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/docs\/([a-z-]+\.md)#([a-z0-9-]+)/g)].map(
        ([link, page, anchor]) => ({
          link: `${link} (${file.slice(ROOT.length)})`,
          page: page as string,
          anchor: anchor as string,
        }),
      ),
    );
    expect(links.length).toBeGreaterThan(3);
    const missing = links.filter(({ page, anchor }) => {
      const text = readFileSync(join(ROOT, 'docs', page), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
      return ![...text.matchAll(/^#{1,6} (.+)$/gm)].some(([, heading]) => slug(heading ?? '') === anchor);
    });
    expect(missing.map(({ link }) => link)).toEqual([]);
  });
});

describe('deploy/setup.sh', () => {
  it('creates the repository, service accounts, topics and dead-letter subscription of an empty project', () => {
    const result = succeeded(run('setup.sh'));
    for (const call of result.calls) {
      expect(call.flags['project'] ?? call.positionals[0], call.args.join(' ')).toBe(PROJECT);
    }
    const apis = only(result.calls, 'services enable').positionals;
    expect(apis).toEqual(
      expect.arrayContaining(
        ['run', 'pubsub', 'cloudbuild', 'artifactregistry', 'iam'].map((a) => `${a}.googleapis.com`),
      ),
    );
    expect(only(result.calls, 'artifacts repositories create').positionals).toEqual([defaults.repository]);
    expect(only(result.calls, 'artifacts repositories create').flags).toMatchObject({
      location: defaults.region,
      'repository-format': 'docker',
    });
    const accounts = result.calls
      .filter((c) => c.command === 'iam service-accounts create')
      .map((c) => c.positionals[0]);
    expect(accounts.map((id) => `${id}@${PROJECT}.iam.gserviceaccount.com`).sort()).toEqual(
      [defaults.runtimeServiceAccount, defaults.pushServiceAccount].sort(),
    );
    const topics = result.calls
      .filter((c) => c.command === 'pubsub topics create')
      .map((c) => c.positionals[0]);
    expect(topics.sort()).toEqual(
      [defaults.underwritingTopic, defaults.completedTopic, defaults.deadLetterTopic].sort(),
    );
    // Without a subscription, a topic keeps nothing.
    const deadLetters = only(result.calls, 'pubsub subscriptions create');
    expect(deadLetters.flags).toMatchObject({
      topic: defaults.deadLetterTopic,
      'expiration-period': 'never',
    });
  });

  it("creates the ledger's Firestore database, its TTL policies, index exemption and query indexes", () => {
    const result = succeeded(run('setup.sh'));
    expect(only(result.calls, 'firestore databases create').flags).toMatchObject({
      database: '(default)',
      location: defaults.region,
      type: 'firestore-native',
    });
    const ttls = result.calls.filter((c) => c.command === 'firestore fields ttls update');
    expect(ttls.map((c) => [c.positionals[0], c.flags['collection-group'], c.flags['enable-ttl']])).toEqual([
      ['expireAt', 'executions', true],
      ['expireAt', 'parts', true],
      ['expireAt', 'executions_audit', true],
      ['expireAt', 'executions_reruns', true],
      ['expireAt', 'rerun_items', true],
    ]);
    const exempt = result.calls.filter((c) => c.command === 'firestore indexes fields update');
    expect(exempt.map((c) => c.positionals[0])).toEqual([
      'processors',
      'created_at',
      'updated_at',
      'lease_until',
      'expireAt',
      'published_at',
      'completed_at',
    ]);
    for (const call of exempt) {
      expect(call.flags).toMatchObject({ 'collection-group': 'executions', 'disable-indexes': true });
    }
    expect(
      result.calls
        .filter((c) => c.command === 'firestore indexes composite create')
        .map((c) => [c.flags['collection-group'], c.flags['field-config']]),
    ).toEqual([
      ['executions', 'field-path=underwriting_id,order=ascending field-path=created_at,order=descending'],
      ['executions', 'field-path=overall_status,order=ascending field-path=completed_at,order=descending'],
      ['executions', 'field-path=has_timeout,order=ascending field-path=completed_at,order=descending'],
      [
        'executions',
        'field-path=processor_ids,array-config=contains field-path=completed_at,order=descending',
      ],
      ['executions', 'field-path=state,order=ascending field-path=completed_at,order=descending'],
      [
        'executions',
        'field-path=overall_status,order=ascending field-path=processor_ids,array-config=contains field-path=completed_at,order=descending',
      ],
      [
        'executions',
        'field-path=has_timeout,order=ascending field-path=processor_ids,array-config=contains field-path=completed_at,order=descending',
      ],
      [
        'executions',
        'field-path=outcome_tags,array-config=contains field-path=completed_at,order=descending',
      ],
      [
        'executions',
        'field-path=overall_status,order=ascending field-path=outcome_tags,array-config=contains field-path=completed_at,order=descending',
      ],
      [
        'executions',
        'field-path=has_timeout,order=ascending field-path=outcome_tags,array-config=contains field-path=completed_at,order=descending',
      ],
      ['executions', 'field-path=underwriting_id,order=ascending field-path=completed_at,order=descending'],
    ]);
  });

  it('grants the runtime, Cloud Build and Pub/Sub identities exactly what the pipeline needs', () => {
    const runtime = `serviceAccount:${defaults.runtimeServiceAccount}`;
    const build = `serviceAccount:${BUILD_SA}`;
    const agent = `serviceAccount:${PUBSUB_AGENT}`;
    expect(bindings(succeeded(run('setup.sh')))).toEqual(
      [
        `pubsub topics ${defaults.completedTopic} ${runtime} roles/pubsub.publisher`,
        `pubsub topics ${defaults.completedTopic} ${runtime} roles/pubsub.viewer`,
        `pubsub topics ${defaults.deadLetterTopic} ${runtime} roles/pubsub.publisher`,
        `pubsub topics ${defaults.underwritingTopic} ${runtime} roles/pubsub.publisher`,
        `projects ${PROJECT} ${build} roles/cloudbuild.builds.builder`,
        `projects ${PROJECT} ${build} roles/run.admin`,
        `projects ${PROJECT} ${runtime} roles/datastore.user`,
        `artifacts repositories ${defaults.repository} ${build} roles/artifactregistry.writer`,
        `iam service-accounts ${defaults.runtimeServiceAccount} ${build} roles/iam.serviceAccountUser`,
        `iam service-accounts ${defaults.pushServiceAccount} ${agent} roles/iam.serviceAccountTokenCreator`,
        `pubsub topics ${defaults.deadLetterTopic} ${agent} roles/pubsub.publisher`,
      ].sort(),
    );
  });

  it('run again, creates nothing that exists and adds the same bindings', () => {
    const first = succeeded(run('setup.sh'));
    const again = succeeded(run('setup.sh', { FAKE_EXISTING: '1' }));
    const creates = changes(again)
      .filter((c) => / create$/.test(c.command))
      .map((c) => c.command);
    // Creating the Pub/Sub service agent is itself idempotent; so is creating a composite index
    // (gcloud cannot describe one by its fields): an existing one answers ALREADY_EXISTS, which
    // the script takes as done and goes on.
    expect(creates).toEqual([
      'beta services identity create',
      ...Array<string>(11).fill('firestore indexes composite create'),
    ]);
    expect(bindings(again)).toEqual(bindings(first));
  });

  it('with DRY_RUN=1, prints every change and makes none', () => {
    const real = succeeded(run('setup.sh'));
    const dry = succeeded(run('setup.sh', { DRY_RUN: '1' }));
    expect(changes(dry)).toEqual([]);
    const printed = dry.stdout.trim().split('\n');
    expect(printed.length).toBe(changes(real).length);
    expect(printed.every((line) => line.startsWith('gcloud '))).toBe(true);
    expect(printed).toContain(
      `gcloud pubsub topics create ${defaults.deadLetterTopic} --project=${PROJECT} --quiet`,
    );
  });
});

describe('deploy/subscribe.sh', () => {
  const settings = {
    'push-endpoint': `${SERVICE_URL}/pubsub/push`,
    'push-auth-service-account': defaults.pushServiceAccount,
    'push-auth-token-audience': defaults.pushAudience,
    'ack-deadline': String(DEFAULTS.PUSH_ACK_DEADLINE_SECONDS),
    'dead-letter-topic': defaults.deadLetterTopic,
    'max-delivery-attempts': '30',
    'min-retry-delay': '10s',
    'max-retry-delay': '600s',
    'expiration-period': 'never',
  };

  it('creates the push subscription with the audience, push identity, ack deadline, dead-letter and retry policy', () => {
    const result = succeeded(run('subscribe.sh'));
    const described = only(result.calls, 'run services describe');
    expect(described.positionals).toEqual([defaults.service]);
    expect(described.flags['region']).toBe(defaults.region);

    const created = only(result.calls, 'pubsub subscriptions create');
    expect(created.flags).toMatchObject({ topic: defaults.underwritingTopic, ...settings, project: PROJECT });
    // Cloud Run must not end a request Pub/Sub still waits for.
    expect(Number(created.flags['ack-deadline'])).toBeLessThanOrEqual(cloudRunTimeoutSeconds());
    expect(bindings(result)).toEqual(
      [
        `run services ${defaults.service} serviceAccount:${defaults.pushServiceAccount} roles/run.invoker`,
        `pubsub subscriptions ${created.positionals[0]} serviceAccount:${PUBSUB_AGENT} roles/pubsub.subscriber`,
      ].sort(),
    );
    expect(only(result.calls, 'run services add-iam-policy-binding').flags['region']).toBe(defaults.region);
  });

  it('updates an existing push subscription to the same settings instead of creating one', () => {
    const result = succeeded(run('subscribe.sh', { FAKE_EXISTING: '1' }));
    expect(result.calls.filter((c) => c.command === 'pubsub subscriptions create')).toEqual([]);
    expect(only(result.calls, 'pubsub subscriptions update').flags).toMatchObject(settings);
  });

  it('takes every name and setting from the environment', () => {
    const result = succeeded(
      run('subscribe.sh', {
        SERVICE: 'orchestrator-staging',
        REGION: 'europe-west1',
        PUSH_SUBSCRIPTION: 'staging-push',
        PUSH_AUDIENCE: 'staging-audience',
        PUSH_SERVICE_ACCOUNT: 'pusher@other.iam.gserviceaccount.com',
        UNDERWRITING_TOPIC: 'uw',
        DEAD_LETTER_TOPIC: 'dl',
        ACK_DEADLINE_SECONDS: '300',
        MAX_DELIVERY_ATTEMPTS: '5',
        PROJECT_NUMBER: '42',
      }),
    );
    expect(only(result.calls, 'run services describe').flags['region']).toBe('europe-west1');
    const created = only(result.calls, 'pubsub subscriptions create', 'staging-push');
    expect(created.flags).toMatchObject({
      topic: 'uw',
      'push-auth-token-audience': 'staging-audience',
      'push-auth-service-account': 'pusher@other.iam.gserviceaccount.com',
      'dead-letter-topic': 'dl',
      'ack-deadline': '300',
      'max-delivery-attempts': '5',
    });
    expect(result.calls.filter((c) => c.command === 'projects describe')).toEqual([]);
    expect(bindings(result)).toContain(
      'pubsub subscriptions staging-push serviceAccount:service-42@gcp-sa-pubsub.iam.gserviceaccount.com roles/pubsub.subscriber',
    );
  });

  it('lets the ops readers and operators through Cloud Run, as users, domains or service accounts', () => {
    const result = succeeded(
      run('subscribe.sh', {
        OPS_READERS: 'ann@example.com;*@audit.example.com',
        OPS_OPERATORS: 'bob@example.com ops-bot@some-project.iam.gserviceaccount.com',
      }),
    );
    const service = `run services ${defaults.service}`;
    expect(bindings(result)).toEqual(
      expect.arrayContaining([
        `${service} user:ann@example.com roles/run.invoker`,
        `${service} domain:audit.example.com roles/run.invoker`,
        `${service} user:bob@example.com roles/run.invoker`,
        `${service} serviceAccount:ops-bot@some-project.iam.gserviceaccount.com roles/run.invoker`,
      ]),
    );
    expect(bindings(result).filter((b) => b.startsWith(service))).toHaveLength(5);
  });

  it('stops, changing nothing, when the service is not deployed yet', () => {
    const result = run('subscribe.sh', { FAKE_NO_SERVICE: '1' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('deploy it first');
    expect(changes(result)).toEqual([]);
  });
});

describe('deploy/telemetry.sh', () => {
  it("stores the collector's configuration as a secret the runtime identity reads, and lets it write traces and metrics", () => {
    const result = succeeded(run('telemetry.sh'));
    for (const call of result.calls) {
      expect(call.flags['project'] ?? call.positionals[0], call.args.join(' ')).toBe(PROJECT);
    }
    expect(only(result.calls, 'services enable').positionals).toEqual(
      expect.arrayContaining(['monitoring', 'cloudtrace', 'secretmanager'].map((a) => `${a}.googleapis.com`)),
    );
    const secret = only(result.calls, 'secrets create');
    expect(secret.positionals).toEqual([defaults.collectorConfigSecret]);
    expect(secret.flags['data-file']).toBe(join(DEPLOY, 'telemetry', 'collector.yaml'));
    const runtime = `serviceAccount:${defaults.runtimeServiceAccount}`;
    expect(bindings(result)).toEqual(
      [
        `secrets ${defaults.collectorConfigSecret} ${runtime} roles/secretmanager.secretAccessor`,
        `projects ${PROJECT} ${runtime} roles/cloudtrace.agent`,
        `projects ${PROJECT} ${runtime} roles/monitoring.metricWriter`,
        `projects ${PROJECT} ${runtime} roles/logging.logWriter`,
      ].sort(),
    );
  });

  it('creates the dashboard and one alert policy per file, then updates them in place when run again', () => {
    const policies = readdirSync(join(DEPLOY, 'telemetry', 'alerts')).filter((f) => f.endsWith('.json'));
    expect(policies.sort()).toEqual(
      [
        'dead-letters.json',
        'instance-restarts.json',
        'oldest-unacked.json',
        'processor-failure-rate.json',
      ].sort(),
    );
    const first = succeeded(
      run('telemetry.sh', { NOTIFICATION_CHANNELS: 'projects/p/notificationChannels/7' }),
    );
    expect(first.calls.filter((c) => c.command === 'monitoring dashboards create')).toHaveLength(1);
    const created = first.calls.filter((c) => c.command === 'alpha monitoring policies create');
    expect(created).toHaveLength(policies.length);
    for (const call of created)
      expect(call.flags['notification-channels']).toBe('projects/p/notificationChannels/7');

    const again = succeeded(run('telemetry.sh', { FAKE_EXISTING: '1' }));
    expect(changes(again).filter((c) => / create$/.test(c.command))).toEqual([]);
    expect(again.calls.filter((c) => c.command === 'alpha monitoring policies update')).toHaveLength(
      policies.length,
    );
    expect(only(again.calls, 'monitoring dashboards update').positionals).toEqual([
      `projects/${PROJECT}/found/1`,
    ]);
    expect(only(again.calls, 'secrets versions add').positionals).toEqual([defaults.collectorConfigSecret]);
  });

  it('with DRY_RUN=1, prints every change and makes none', () => {
    const real = succeeded(run('telemetry.sh'));
    const dry = succeeded(run('telemetry.sh', { DRY_RUN: '1' }));
    expect(changes(dry)).toEqual([]);
    expect(dry.stdout.trim().split('\n').length).toBe(changes(real).length);
  });
});

describe('deploy/common.sh', () => {
  it("defaults what the build also sets to the build's own values", () => {
    const names = ['COLLECTOR_IMAGE', 'CONCURRENCY', 'COLLECTOR_CONFIG_SECRET', 'REGION', 'SERVICE'];
    const printed = spawnSync(
      'bash',
      [
        '-c',
        `source "$1"; for name in ${names.join(' ')}; do printf '%s\\n' "\${!name}"; done`,
        'bash',
        join(DEPLOY, 'common.sh'),
      ],
      { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', PROJECT } },
    );
    expect(printed.status, printed.stderr).toBe(0);
    expect(printed.stdout.trim().split('\n')).toEqual([
      defaults.collectorImage,
      defaults.concurrency,
      defaults.collectorConfigSecret,
      defaults.region,
      defaults.service,
    ]);
  });
});

const DOCUMENTS_URL = 'https://documents-abc123-uc.a.run.app';
const WORKER_POOL = `${defaults.service}-pull`;
const PULL_SUBSCRIPTION = `${defaults.service}-pull`;
const SCALER_JOB = `${WORKER_POOL}-scaler`;
const SCALER_SA = `${defaults.service}-scaler@${PROJECT}.iam.gserviceaccount.com`;
/** Variables of the push service's app container that a worker pool has no use for. */
const PUSH_ONLY = /^(PUSH_|OPS_)/;

describe('deploy/pull.sh', () => {
  it('creates a pull subscription with the retry and dead-letter policy, and lets the service and Pub/Sub use it', () => {
    const result = succeeded(run('pull.sh', { DOCUMENTS_URL }));
    for (const call of result.calls) {
      expect(call.flags['project'] ?? call.positionals[0], call.args.join(' ')).toBe(PROJECT);
    }
    const created = only(result.calls, 'pubsub subscriptions create', PULL_SUBSCRIPTION);
    expect(created.flags).toMatchObject({
      topic: defaults.underwritingTopic,
      'ack-deadline': '60',
      'min-retry-delay': '10s',
      'max-retry-delay': '600s',
      'dead-letter-topic': defaults.deadLetterTopic,
      'max-delivery-attempts': '30',
      'expiration-period': 'never',
    });
    // A pull subscription: no push endpoint.
    expect(Object.keys(created.flags).filter((flag) => flag.startsWith('push-'))).toEqual([]);
    expect(bindings(result).filter((b) => b.startsWith('pubsub subscriptions'))).toEqual(
      [
        `pubsub subscriptions ${PULL_SUBSCRIPTION} serviceAccount:${defaults.runtimeServiceAccount} roles/pubsub.subscriber`,
        `pubsub subscriptions ${PULL_SUBSCRIPTION} serviceAccount:${PUBSUB_AGENT} roles/pubsub.subscriber`,
      ].sort(),
    );
  });

  it('deploys the newest image as a worker pool like the push service, pulling that subscription, with the collector beside it', () => {
    const result = succeeded(run('pull.sh', { DOCUMENTS_URL }));
    const listed = only(result.calls, 'artifacts docker images list');
    expect(listed.positionals).toEqual([
      `${defaults.region}-docker.pkg.dev/${PROJECT}/${defaults.repository}/${defaults.service}`,
    ]);
    const deploy = only(result.calls, 'beta run worker-pools deploy');
    expect(deploy.positionals).toEqual([WORKER_POOL]);
    const pool = containerArgs(deploy.args);
    expect(flagValue(pool, 'region')).toBe(defaults.region);
    expect(flagValue(pool, 'service-account')).toBe(defaults.runtimeServiceAccount);
    // A new pool starts at the minimum; the scaler takes it from there.
    expect(flagValue(pool, 'scaling')).toBe('1');

    const app = containerArgs(deploy.args, 'app');
    const pushApp = containerArgs(cloudbuildDeploy, 'app');
    expect(flagValue(app, 'image')).toBe(BUILT_IMAGE);
    // The size CONCURRENCY is measured on, the push service's.
    for (const flag of ['cpu', 'memory']) expect(flagValue(app, flag), flag).toBe(flagValue(pushApp, flag));
    expect(flagValue(app, 'depends-on')).toBe('collector');
    const env = dictionary(flagValue(app, 'set-env-vars'));
    const pushKeys = Object.keys(dictionary(flagValue(pushApp, 'set-env-vars')));
    expect(Object.keys(env).sort()).toEqual(
      [...pushKeys.filter((name) => !PUSH_ONLY.test(name)), 'UNDERWRITING_SUBSCRIPTION'].sort(),
    );
    // What the service makes of it, off Cloud Run's request path (no K_SERVICE is needed).
    const config = loadConfig(env);
    expect(config.pubsub).toMatchObject({
      projectId: PROJECT,
      underwritingTopic: defaults.underwritingTopic,
      underwritingSubscription: PULL_SUBSCRIPTION,
      completedTopic: defaults.completedTopic,
      deadLetterTopic: defaults.deadLetterTopic,
    });
    expect(config.documentsUrl).toBe(DOCUMENTS_URL);
    expect(env['LEDGER']).toBe('firestore');
    expect(env['OTEL_TRACES_SAMPLER_ARG']).toBe(defaults.traceSampleRatio);

    const collector = containerArgs(deploy.args, 'collector');
    const pushCollector = containerArgs(cloudbuildDeploy, 'collector');
    expect(flagValue(collector, 'image')).toBe(defaults.collectorImage);
    expect(flagValue(collector, 'set-secrets')).toBe(
      flagValue(pushCollector, 'set-secrets').replace(
        '${_COLLECTOR_CONFIG_SECRET}',
        defaults.collectorConfigSecret,
      ),
    );
    for (const flag of ['args', 'cpu', 'memory']) {
      expect(flagValue(collector, flag), flag).toBe(flagValue(pushCollector, flag));
    }
  });

  it('runs deploy/scale-pull.sh every minute as a Cloud Run job, under an identity that may only read metrics and scale', () => {
    const result = succeeded(run('pull.sh', { DOCUMENTS_URL }));
    expect(only(result.calls, 'iam service-accounts create').positionals).toEqual([SCALER_SA.split('@')[0]]);
    const scaler = `serviceAccount:${SCALER_SA}`;
    expect(bindings(result).filter((b) => b.includes(scaler))).toEqual(
      [
        `projects ${PROJECT} ${scaler} roles/monitoring.viewer`,
        `projects ${PROJECT} ${scaler} roles/run.developer`,
        `iam service-accounts ${defaults.runtimeServiceAccount} ${scaler} roles/iam.serviceAccountUser`,
      ].sort(),
    );

    const image = `${defaults.region}-docker.pkg.dev/${PROJECT}/${defaults.repository}/${SCALER_JOB}:latest`;
    const built = only(result.calls, 'builds submit');
    expect(built.positionals).toEqual([DEPLOY]);
    expect(built.flags['tag']).toBe(image);

    const job = only(result.calls, 'run jobs deploy');
    expect(job.positionals).toEqual([SCALER_JOB]);
    expect(job.flags).toMatchObject({
      region: defaults.region,
      image,
      'service-account': SCALER_SA,
      'max-retries': '0',
    });
    // The job's environment is enough for the script: it scales this pool from this subscription.
    const jobEnv = dictionary(String(job.flags['set-env-vars']));
    const scaled = succeeded(
      run('scale-pull.sh', { ...jobEnv, FAKE_EXISTING: '1', FAKE_INSTANCES: '1', FAKE_UNACKED: '100000' }),
    );
    expect(only(scaled.calls, 'beta run worker-pools update').positionals).toEqual([WORKER_POOL]);
    expect(only(scaled.calls, 'beta run worker-pools update').flags['scaling']).toBe('20');
    expect(scaled.curls[0]?.join(' ')).toContain(`subscription_id="${PULL_SUBSCRIPTION}"`);

    const schedule = only(result.calls, 'scheduler jobs create http');
    expect(schedule.positionals).toEqual([SCALER_JOB]);
    expect(schedule.flags).toEqual({
      location: defaults.region,
      schedule: '* * * * *',
      uri: `https://run.googleapis.com/v2/projects/${PROJECT}/locations/${defaults.region}/jobs/${SCALER_JOB}:run`,
      'http-method': 'POST',
      'oauth-service-account-email': SCALER_SA,
      project: PROJECT,
      quiet: true,
    });
  });

  it('run again, updates what exists and keeps the instance count the scaler chose', () => {
    const again = succeeded(run('pull.sh', { DOCUMENTS_URL, FAKE_EXISTING: '1' }));
    expect(changes(again).filter((c) => / create( http)?$/.test(c.command))).toEqual([]);
    expect(only(again.calls, 'pubsub subscriptions update', PULL_SUBSCRIPTION).flags).toMatchObject({
      'max-delivery-attempts': '30',
      'dead-letter-topic': defaults.deadLetterTopic,
    });
    expect(only(again.calls, 'beta run worker-pools deploy').flags['scaling']).toBeUndefined();
    expect(only(again.calls, 'scheduler jobs update http').positionals).toEqual([SCALER_JOB]);
  });

  it('with PULL_SCALER=none, leaves the instance count alone; IMAGE picks the image', () => {
    const result = succeeded(
      run('pull.sh', { DOCUMENTS_URL, PULL_SCALER: 'none', IMAGE: 'example/image:1' }),
    );
    const commands = result.calls.map((c) => c.command);
    for (const command of [
      'builds submit',
      'run jobs deploy',
      'scheduler jobs create http',
      'artifacts docker images list',
    ]) {
      expect(commands, command).not.toContain(command);
    }
    expect(bindings(result).filter((b) => b.includes('scaler'))).toEqual([]);
    const deploy = only(result.calls, 'beta run worker-pools deploy');
    expect(flagValue(containerArgs(deploy.args, 'app'), 'image')).toBe('example/image:1');
  });

  it('stops before any change without DOCUMENTS_URL, a known PULL_SCALER, or an image to deploy', () => {
    const noUrl = run('pull.sh');
    expect(noUrl.status).not.toBe(0);
    expect(noUrl.stderr).toContain('set DOCUMENTS_URL');
    expect(noUrl.calls).toEqual([]);

    const badScaler = run('pull.sh', { DOCUMENTS_URL, PULL_SCALER: 'crema' });
    expect(badScaler.status).not.toBe(0);
    expect(badScaler.stderr).toContain('PULL_SCALER: must be scheduled or none');
    expect(badScaler.calls).toEqual([]);

    const noImage = run('pull.sh', { DOCUMENTS_URL, FAKE_NO_IMAGE: '1' });
    expect(noImage.status).not.toBe(0);
    expect(noImage.stderr).toContain('build one first');
    expect(changes(noImage).filter((c) => c.command !== 'services enable')).toEqual([]);
  });

  it('with DRY_RUN=1, prints every change and makes none', () => {
    const real = succeeded(run('pull.sh', { DOCUMENTS_URL }));
    const dry = succeeded(run('pull.sh', { DOCUMENTS_URL, DRY_RUN: '1' }));
    expect(changes(dry)).toEqual([]);
    const printed = dry.stdout.trim().split('\n');
    expect(printed.length).toBe(changes(real).length);
    expect(printed.every((line) => line.startsWith('gcloud '))).toBe(true);
  });

  it("builds the scaler's image from exactly the scripts it runs", () => {
    const stages = parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
    expect(stages).toHaveLength(1);
    const instructions = stages[0]?.instructions ?? [];
    const copied = instructions
      .filter((i) => i.keyword === 'COPY')
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    // What scale-pull.sh sources comes along.
    const sourced = [...readFileSync(join(DEPLOY, 'scale-pull.sh'), 'utf8').matchAll(/\/(\w+\.sh)"$/gm)].map(
      (m) => m[1],
    );
    expect(sourced).toEqual(['common.sh']);
    expect(copied.sort()).toEqual(['common.sh', 'scale-pull.sh']);
    expect(instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args).toContain('/scale-pull.sh');
    // gcloud builds submit uploads only what .gcloudignore lets through.
    const kept = readFileSync(join(DEPLOY, '.gcloudignore'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1));
    expect(kept.sort()).toEqual(['Dockerfile', ...copied].sort());
  });
});

describe('deploy/scale-pull.sh', () => {
  // The sizes spelt out, so the table holds whatever CONCURRENCY's default becomes.
  const sizes = {
    CONCURRENCY: '250',
    PULL_TARGET_PERCENT: '80',
    PULL_MIN_INSTANCES: '1',
    PULL_MAX_INSTANCES: '20',
  };
  const scale = (env: Record<string, string>) =>
    run('scale-pull.sh', { FAKE_EXISTING: '1', FAKE_INSTANCES: '3', ...sizes, ...env });
  const updates = (result: Run) => result.calls.filter((c) => c.command === 'beta run worker-pools update');

  it.each([
    // unacked over the window, instances now, instances set (CONCURRENCY 250 at 80 %: 200 each)
    ['', '3', '1'],
    ['0', '3', '1'],
    ['1', '3', '1'],
    ['200', '3', '1'],
    ['201', '1', '2'],
    ['1799,1800', '3', '9'],
    ['1801', '3', '10'],
    ['3999', '20', '20'],
    ['100000', '3', '20'],
  ])('with at most %s unacked and %s instances, sets %s', (unacked, now, wanted) => {
    const result = succeeded(scale({ FAKE_UNACKED: unacked, FAKE_INSTANCES: now }));
    if (now === wanted) {
      expect(updates(result)).toEqual([]);
    } else {
      const [update] = updates(result);
      expect(updates(result)).toHaveLength(1);
      expect(update?.positionals).toEqual([WORKER_POOL]);
      expect(update?.flags).toMatchObject({ region: defaults.region, scaling: wanted, project: PROJECT });
    }
    expect(result.stderr).toContain(`${wanted} wanted`);
  });

  it('takes the sizes from the environment', () => {
    const env = {
      CONCURRENCY: '100',
      PULL_TARGET_PERCENT: '50',
      PULL_MIN_INSTANCES: '2',
      PULL_MAX_INSTANCES: '8',
    };
    const cases: [string, string][] = [
      ['0', '2'],
      ['151', '4'],
      ['10000', '8'],
    ];
    for (const [unacked, wanted] of cases) {
      const result = succeeded(scale({ ...env, FAKE_UNACKED: unacked }));
      expect(result.stderr, unacked).toContain(`${wanted} wanted`);
    }
  });

  it('reads the largest backlog over the window from Cloud Monitoring, with a token kept off the command line', () => {
    const result = succeeded(scale({ FAKE_UNACKED: '10', SCALE_DOWN_WINDOW_SECONDS: '900' }));
    expect(result.curls).toHaveLength(1);
    const args = result.curls[0] ?? [];
    expect(args).toContain(`https://monitoring.googleapis.com/v3/projects/${PROJECT}/timeSeries`);
    const query = Object.fromEntries(
      args
        .flatMap((arg, i) => (args[i - 1] === '--data-urlencode' ? [arg] : []))
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    expect(query).toMatchObject({
      filter: `metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" resource.type="pubsub_subscription" resource.label.subscription_id="${PULL_SUBSCRIPTION}"`,
      'aggregation.alignmentPeriod': '900s',
      'aggregation.perSeriesAligner': 'ALIGN_MAX',
    });
    const [start, end] = [query['interval.startTime'], query['interval.endTime']].map((t) =>
      Date.parse(String(t)),
    );
    expect((end ?? 0) - (start ?? 0)).toBe(900_000);
    expect(Math.abs(Date.now() - (end ?? 0))).toBeLessThan(60_000);
    expect(args.join(' ')).not.toContain(TOKEN);
    expect(result.curlStdin).toBe(`Authorization: Bearer ${TOKEN}\n`);
  });

  it('with DRY_RUN=1, prints the change and makes none', () => {
    const dry = succeeded(scale({ FAKE_UNACKED: '5000', DRY_RUN: '1' }));
    expect(changes(dry)).toEqual([]);
    expect(dry.stdout.trim()).toBe(
      `gcloud beta run worker-pools update ${WORKER_POOL} --region=${defaults.region} --scaling=20 --project=${PROJECT} --quiet`,
    );
  });

  it('changes nothing when it cannot read the backlog or find the subscription or the pool', () => {
    const unreadable = scale({ FAKE_CURL_FAIL: '1' });
    expect(unreadable.status).not.toBe(0);
    expect(unreadable.stderr).toContain('could not read');
    expect(unreadable.stderr).toContain('monitoring.timeSeries.list denied');
    expect(updates(unreadable)).toEqual([]);

    const missing = run('scale-pull.sh', { FAKE_UNACKED: '10' });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain(`no subscription ${PULL_SUBSCRIPTION}`);
    expect(updates(missing)).toEqual([]);
  });

  it.each([
    [{ CONCURRENCY: '0' }, 'CONCURRENCY: must be a whole number from 1 to 1000, got "0"'],
    [{ CONCURRENCY: 'many' }, 'CONCURRENCY: must be a whole number'],
    [{ PULL_TARGET_PERCENT: '120' }, 'PULL_TARGET_PERCENT: must be a whole number from 1 to 100'],
    [{ SCALE_DOWN_WINDOW_SECONDS: '10' }, 'SCALE_DOWN_WINDOW_SECONDS: must be a whole number from 60'],
    [
      { PULL_MIN_INSTANCES: '5', PULL_MAX_INSTANCES: '4' },
      'PULL_MIN_INSTANCES: 5 is more than PULL_MAX_INSTANCES (4)',
    ],
  ])('refuses %o with one line naming the variable, before calling gcloud', (env, message) => {
    const result = scale({ FAKE_UNACKED: '10', ...env });
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(message);
    expect(result.calls).toEqual([]);
  });
});

describe('gcloud', () => {
  // One gcloud --help a command, a few at a time: 2 to 3 s each on an idle machine, ten times
  // that beside CPU hogs.
  it('knows every command and flag the deploy scripts use', { timeout: 600_000 }, async () => {
    const calls = [
      run('setup.sh'),
      run('setup.sh', { FAKE_EXISTING: '1' }),
      run('subscribe.sh'),
      run('subscribe.sh', { FAKE_EXISTING: '1' }),
      run('subscribe.sh', { OPS_READERS: 'ann@example.com;*@example.org' }),
      run('telemetry.sh'),
      run('telemetry.sh', { FAKE_EXISTING: '1' }),
      run('pull.sh', { DOCUMENTS_URL }),
      run('pull.sh', { DOCUMENTS_URL, FAKE_EXISTING: '1' }),
      run('scale-pull.sh', { FAKE_EXISTING: '1', FAKE_INSTANCES: '1', FAKE_UNACKED: '5000' }),
    ].flatMap((result) => succeeded(result).calls);
    const commands = [...new Set(calls.map((call) => call.command))];
    expect(commands.length).toBeGreaterThan(10);

    // One help page per command, a few at a time.
    const helps = new Map<string, Set<string>>();
    const queue = [...commands];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let command = queue.shift(); command !== undefined; command = queue.shift()) {
          helps.set(command, definedFlags(await gcloudHelp(command, "the deploy scripts' gcloud flags")));
        }
      }),
    );
    const unknown = calls.flatMap((call) =>
      Object.keys(call.flags)
        .filter((flag) => !helps.get(call.command)?.has(flag))
        .map((flag) => `gcloud ${call.command} --${flag}`),
    );
    expect([...new Set(unknown)]).toEqual([]);
  });
});
