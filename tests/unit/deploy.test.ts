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

import { DEFAULTS } from '../../src/config.js';
import { definedFlags, gcloudHelp } from '../helpers/gcloud.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const SCRIPTS = readdirSync(DEPLOY).filter((name) => name.endsWith('.sh'));
/** The scripts an operator runs; the others are sourced by them. */
const ENTRY_POINTS = ['setup.sh', 'subscribe.sh', 'telemetry.sh', 'install-emulator.sh'];

const PROJECT = 'some-project';
const PROJECT_NUMBER = '123456789012';
const BUILD_SA = `${PROJECT_NUMBER}-compute@developer.gserviceaccount.com`;
const PUBSUB_AGENT = `service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
const SERVICE_URL = 'https://processor-orchestrator-abc123-uc.a.run.app';

// Stands in for gcloud: records every call (arguments separated by \x1f, one call a line) and
// answers what the scripts ask. `describe` and `list` find a resource only when FAKE_EXISTING=1.
const FAKE_GCLOUD = `#!/usr/bin/env bash
{ printf '%s\\x1f' "$@"; printf '\\n'; } >> "$FAKE_GCLOUD_LOG"
case " $* " in
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

/** The defaults of cloudbuild.yaml's substitutions for PROJECT, which the scripts must share. */
const defaults = (() => {
  const { substitutions } = z
    .object({ substitutions: z.record(z.string(), z.string()) })
    .parse(parse(readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8')) as unknown);
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

// How many words name the command, by its first two words or else its first word
// (`pubsub topics create` is three).
const COMMAND_WORDS: Record<string, number> = {
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

// Flags gcloud takes more than once; their values are kept, space-separated.
const REPEATABLE = new Set(['field-config']);

function toCall(args: string[]): Call {
  const words = args.filter((arg) => !arg.startsWith('--'));
  const depth = COMMAND_WORDS[words.slice(0, 2).join(' ')] ?? COMMAND_WORDS[words[0] ?? ''];
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

const READ_ONLY = /(^| )(describe|list|get-default-service-account)$/;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  calls: Call[];
}

let work: string;
let runs = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'deploy-test-'));
  writeFileSync(join(work, 'gcloud'), FAKE_GCLOUD);
  chmodSync(join(work, 'gcloud'), 0o755);
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
  const environment: Record<string, string> = {
    PATH: `${work}:${process.env['PATH'] ?? ''}`,
    HOME: work,
    FAKE_GCLOUD_LOG: log,
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
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
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
    'max-delivery-attempts': '10',
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

describe('gcloud', () => {
  it('knows every command and flag the deploy scripts use', { timeout: 180_000 }, async () => {
    const calls = [
      run('setup.sh'),
      run('setup.sh', { FAKE_EXISTING: '1' }),
      run('subscribe.sh'),
      run('subscribe.sh', { FAKE_EXISTING: '1' }),
      run('subscribe.sh', { OPS_READERS: 'ann@example.com;*@example.org' }),
      run('telemetry.sh'),
      run('telemetry.sh', { FAKE_EXISTING: '1' }),
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
