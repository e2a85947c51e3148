import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { resolve } from 'node:path';

import { z } from 'zod';

import { OrchestratorError, formatIssues, unreadableReason } from './errors.js';
import { LEDGER_KINDS, type LedgerKind } from './ledger/ledger.js';
import { builtProcessorsDir } from './paths.js';
import { PROCESSOR_DEFAULTS } from './processors/defaults.js';
import type { ProcessorSources } from './processors/discovery.js';
import { PACKAGE_NAME, PACKAGE_NAME_MAX } from './processors/packages.js';

/** Defaults, named once. */
export const DEFAULTS = {
  UNDERWRITING_TOPIC: 'underwriting-created',
  COMPLETED_TOPIC: 'processing-completed',
  PORT: 8080,
  DOCUMENTS_CONCURRENCY: 8,
  DOCUMENTS_TIMEOUT_MS: 5_000,
  DOCUMENTS_BUDGET_MS: 30_000,
  DOCUMENTS_ATTEMPTS: 4,
  ...PROCESSOR_DEFAULTS,
  /** Cloud Run gives 10 s after SIGTERM; what is left after the drain closes the subscriber. */
  SHUTDOWN_TIMEOUT_MS: 8_000,
  PUSH_AUTH: 'required',
  PUSH_ACK_DEADLINE_SECONDS: 600,
  PUSH_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
  PUSH_ISSUERS: 'https://accounts.google.com,accounts.google.com',
  OPS_AUTH: 'oidc',
  OPS_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs',
  OPS_ISSUERS: 'https://accounts.google.com,accounts.google.com',
  OPS_IAP_JWKS_URL: 'https://www.gstatic.com/iap/verify/public_key-jwk',
  /** Operator actions are kept longer than executions: a year and a month. */
  OPS_AUDIT_TTL_DAYS: 400,
  /** Works without set-up and dedupes within one instance; `dev` and the deploy files use `firestore`. */
  LEDGER: 'memory',
  FIRESTORE_DATABASE: '(default)',
  LEDGER_COLLECTION: 'executions',
  LEDGER_TTL_DAYS: 30,
  LOG_LEVEL: 'info',
  OTEL_SERVICE_NAME: 'processor-orchestrator',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  /** The OpenTelemetry default: metrics are exported every minute. */
  OTEL_METRIC_EXPORT_INTERVAL: 60_000,
} as const;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const PUSH_AUTH_MODES = ['required', 'cloud-run', 'disabled'] as const;
const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

const hostPort = z
  .string()
  .regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port, e.g. localhost:8085')
  .optional();

// An empty variable (`FOO=` in a shell or a Docker env file) means "not set".
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);
const optionalString = z.preprocess(unsetIfEmpty, z.string().optional());

function withDefault<T extends z.ZodType>(fallback: string, schema: T) {
  return z.preprocess((v) => (v === '' || v === undefined ? fallback : v), schema);
}

function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

const integer = (min: number, max: number, fallback: number) =>
  withDefault(String(fallback), wholeNumber(min, max));

// A topic or subscription: its short name (3–255 characters, starting with a letter) or its
// full `projects/P/topics/T` (`…/subscriptions/S`) name.
const RESOURCE_NAME = /^(projects\/[a-z][a-z0-9-:.]*\/(topics|subscriptions)\/)?[A-Za-z][\w\-.~+%]{2,254}$/;
const resourceName = z
  .string()
  .regex(RESOURCE_NAME, 'must be a Pub/Sub name: 3–255 letters, digits or -_.~+%, starting with a letter');

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .transform((url) => url.replace(/\/+$/, ''));

const OPS_AUTH_MODES = ['oidc', 'iap', 'disabled'] as const;

const packageNames = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  )
  .superRefine((names, ctx) => {
    const bad = names.find((name) => !PACKAGE_NAME.test(name) || name.length > PACKAGE_NAME_MAX);
    if (bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `must be comma-separated npm package names ("${bad}" is not one)`,
      });
    }
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    if (twice !== undefined) ctx.addIssue({ code: 'custom', message: `names ${twice} twice` });
  });

// `a@b.c` or `*@b.c`, comma-separated; matched without regard to case.
const PRINCIPAL = /^(\*|[^\s@,*]+)@[^\s@,*]+\.[^\s@,*]+$/;
const principals = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .transform((s) =>
      s
        .split(/[,;\s]+/)
        .map((p) => p.trim().toLowerCase())
        .filter((p) => p !== ''),
    )
    .superRefine((list, ctx) => {
      const bad = list.find((p) => !PRINCIPAL.test(p));
      if (bad !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: `must be comma-separated emails or *@domain ("${bad}" is neither)`,
        });
    })
    .optional(),
);
const issuerList = z
  .string()
  .transform((s) => s.split(',').map((issuer) => issuer.trim()))
  .pipe(z.array(z.string().min(1, 'must be a comma-separated list of issuers')));
const otlpProtocol = z.preprocess(
  unsetIfEmpty,
  z
    .enum(OTLP_PROTOCOLS, {
      error: `must be ${OTLP_PROTOCOLS.join(' or ')} (grpc is not supported: use http/protobuf)`,
    })
    .optional(),
);
const otlpEndpoint = z.preprocess(unsetIfEmpty, httpUrl.optional());

const EnvSchema = z.object({
  GOOGLE_CLOUD_PROJECT: optionalString,
  PUBSUB_EMULATOR_HOST: z.preprocess(unsetIfEmpty, hostPort),
  UNDERWRITING_TOPIC: withDefault(DEFAULTS.UNDERWRITING_TOPIC, resourceName),
  UNDERWRITING_SUBSCRIPTION: z.preprocess(unsetIfEmpty, resourceName.optional()),
  COMPLETED_TOPIC: withDefault(DEFAULTS.COMPLETED_TOPIC, resourceName),
  DEAD_LETTER_TOPIC: z.preprocess(unsetIfEmpty, resourceName.optional()),
  PULL_MAX_MESSAGES: z.preprocess(unsetIfEmpty, wholeNumber(1, 10_000).optional()),
  DOCUMENTS_URL: z.preprocess(unsetIfEmpty, httpUrl.optional()),
  DOCUMENTS_AUDIENCE: optionalString,
  DOCUMENTS_CONCURRENCY: integer(1, 256, DEFAULTS.DOCUMENTS_CONCURRENCY),
  DOCUMENTS_TIMEOUT_MS: integer(1, 600_000, DEFAULTS.DOCUMENTS_TIMEOUT_MS),
  DOCUMENTS_BUDGET_MS: integer(1, 600_000, DEFAULTS.DOCUMENTS_BUDGET_MS),
  DOCUMENTS_ATTEMPTS: integer(1, 10, DEFAULTS.DOCUMENTS_ATTEMPTS),
  DOCUMENTS_DIR: optionalString,
  PROCESSORS_DIR: optionalString,
  PROCESSOR_PACKAGES: z.preprocess(unsetIfEmpty, packageNames.optional()),
  PURCHASES_FILE: optionalString,
  PROCESSOR_TIMEOUT_MS: integer(1, 3_600_000, DEFAULTS.PROCESSOR_TIMEOUT_MS),
  PROCESSOR_TIMEOUT_GRACE_MS: integer(0, 60_000, DEFAULTS.PROCESSOR_TIMEOUT_GRACE_MS),
  PROCESSOR_THREADS: integer(1, 256, Math.max(2, availableParallelism())),
  PROCESSOR_MAX_THREADS: integer(1, 1024, defaultMaxThreads()),
  PROCESSOR_MAX_HEAP_MB: integer(16, 65_536, DEFAULTS.PROCESSOR_MAX_HEAP_MB),
  PORT: integer(0, 65_535, DEFAULTS.PORT),
  SHUTDOWN_TIMEOUT_MS: integer(0, 3_600_000, DEFAULTS.SHUTDOWN_TIMEOUT_MS),
  PUSH_AUDIENCE: optionalString,
  PUSH_SERVICE_ACCOUNT: optionalString,
  PUSH_JWKS_URL: withDefault(DEFAULTS.PUSH_JWKS_URL, httpUrl),
  PUSH_ISSUERS: withDefault(DEFAULTS.PUSH_ISSUERS, issuerList),
  PUSH_AUTH: withDefault(
    DEFAULTS.PUSH_AUTH,
    z.enum(PUSH_AUTH_MODES, { error: `must be one of ${PUSH_AUTH_MODES.join(', ')}` }),
  ),
  PUSH_ACK_DEADLINE_SECONDS: integer(10, 600, DEFAULTS.PUSH_ACK_DEADLINE_SECONDS),
  OPS_AUTH: withDefault(
    DEFAULTS.OPS_AUTH,
    z.enum(OPS_AUTH_MODES, { error: `must be one of ${OPS_AUTH_MODES.join(', ')}` }),
  ),
  OPS_AUDIENCE: optionalString,
  OPS_JWKS_URL: withDefault(DEFAULTS.OPS_JWKS_URL, httpUrl),
  OPS_ISSUERS: withDefault(DEFAULTS.OPS_ISSUERS, issuerList),
  OPS_IAP_AUDIENCE: optionalString,
  OPS_IAP_JWKS_URL: withDefault(DEFAULTS.OPS_IAP_JWKS_URL, httpUrl),
  OPS_READERS: principals,
  OPS_OPERATORS: principals,
  OPS_AUDIT_TTL_DAYS: integer(1, 3_650, DEFAULTS.OPS_AUDIT_TTL_DAYS),
  LEDGER: withDefault(
    DEFAULTS.LEDGER,
    z.enum(LEDGER_KINDS, { error: `must be one of ${LEDGER_KINDS.join(', ')}` }),
  ),
  FIRESTORE_DATABASE: withDefault(
    DEFAULTS.FIRESTORE_DATABASE,
    z
      .string()
      .regex(
        /^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$/,
        'must be (default) or a database id: 4–63 lower-case letters, digits or -, starting with a letter',
      ),
  ),
  LEDGER_COLLECTION: withDefault(
    DEFAULTS.LEDGER_COLLECTION,
    z
      .string()
      .regex(
        /^(?!__)[A-Za-z0-9_-]{1,100}$/,
        'must be a collection id: 1–100 letters, digits, _ or -, not starting with __',
      ),
  ),
  LEDGER_TTL_DAYS: integer(1, 3_650, DEFAULTS.LEDGER_TTL_DAYS),
  FIRESTORE_EMULATOR_HOST: z.preprocess(unsetIfEmpty, hostPort),
  OTEL_SDK_DISABLED: withDefault(
    'false',
    z
      .string()
      .toLowerCase()
      .pipe(z.enum(['true', 'false'], { error: 'must be true or false' })),
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: otlpProtocol,
  OTEL_SERVICE_NAME: withDefault(DEFAULTS.OTEL_SERVICE_NAME, z.string()),
  OTEL_TRACES_SAMPLER: withDefault(
    DEFAULTS.OTEL_TRACES_SAMPLER,
    z.enum(TRACE_SAMPLERS, { error: `must be one of ${TRACE_SAMPLERS.join(', ')}` }),
  ),
  OTEL_TRACES_SAMPLER_ARG: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .transform(Number)
      .pipe(z.number({ error: 'must be a number from 0 to 1' }).min(0).max(1))
      .optional(),
  ),
  OTEL_METRIC_EXPORT_INTERVAL: integer(100, 3_600_000, DEFAULTS.OTEL_METRIC_EXPORT_INTERVAL),
  LOG_LEVEL: withDefault(
    DEFAULTS.LOG_LEVEL,
    z
      .string()
      .toLowerCase()
      .pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')} (any case)` })),
  ),
});

/** Every environment variable the service reads (docs/configuration.md lists each). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape);

export interface Config {
  pubsub: {
    /** Project id; unset, the client library finds it (metadata server, credentials). */
    projectId: string | undefined;
    /** host:port of the Pub/Sub emulator, when talking to it. */
    emulatorHost: string | undefined;
    /** Where `underwriting.created` is published (`dev` and `replay` publish there). */
    underwritingTopic: string;
    /** Pull subscription: when set, `serve` pulls from it. */
    underwritingSubscription: string | undefined;
    completedTopic: string;
    /** Where poison messages are forwarded; unset, they are logged at ERROR and acked. */
    deadLetterTopic: string | undefined;
    /**
     * Optional ceiling on pulled events in progress (pulled, verdict not given). Unset, admission
     * alone decides from the CPU, memory and event-loop delay it measures (`src/admission/`).
     */
    pullMaxMessages: number | undefined;
  };
  /** Base URL of the document service (no trailing slash). */
  documentsUrl: string | undefined;
  /** Audience of the Google ID token attached to document requests. */
  documentsAudience: string | undefined;
  /** How the HTTP document source fetches (with `documentsUrl`). */
  documentsHttp: {
    /** Requests in flight at once for one event. */
    concurrency: number;
    /** Deadline of one request, body included. */
    timeoutMs: number;
    /** Deadline of all the requests of one event, retries and their waits included. */
    budgetMs: number;
    /** Tries per document (network error, 5xx, 429), the first included. */
    attempts: number;
  };
  /** A folder of `{id}.json` document files (absolute), when documents come from files. */
  documentsDir: string | undefined;
  /**
   * Where plugins are discovered (absolute): `PROCESSORS_DIR`; unset, the built `processors/` of
   * this package, unless `PROCESSOR_PACKAGES` is set (then the packages replace it).
   */
  processorsDir: string | undefined;
  /** Installed npm packages whose processors are loaded too (`PROCESSOR_PACKAGES`), in order. */
  processorPackages: string[];
  /** organization id → purchased processor ids (absolute path), optional. */
  purchasesFile: string | undefined;
  /** Default per-processor deadline, for processors that do not set `timeoutMs`. */
  processorTimeoutMs: number;
  /** How long a processor that honours `ctx.signal` has to settle after its deadline. */
  processorTimeoutGraceMs: number;
  /** Worker threads kept in the pool, started up front (default: the cores, at least 2). */
  processorThreads: number;
  /** Most worker threads: more start while runs that wait on I/O fill the others. */
  processorMaxThreads: number;
  /** Heap limit of each worker thread; a processor that exceeds it is FAILED. */
  processorMaxHeapMb: number;
  /** HTTP port; 0 picks a free one. */
  port: number;
  /** After SIGTERM, how long in-flight events may take to finish before they are nacked. */
  shutdownTimeoutMs: number;
  push: {
    /**
     * `required`: every push token is verified here, signature and claims. `cloud-run`: on
     * Cloud Run with its IAM invoker check on, which verifies the signature and removes it; the
     * claims are checked here. `disabled`: no token (the emulator only).
     */
    auth: (typeof PUSH_AUTH_MODES)[number];
    audience: string | undefined;
    serviceAccount: string | undefined;
    jwksUrl: string;
    issuers: string[];
    ackDeadlineSeconds: number;
  };
  /** Who may use the operations routes (`/ops`, docs/operations.md). */
  ops: {
    /**
     * `oidc`: a Google-signed ID token for `audience` in `Authorization: Bearer`. `iap`: the
     * service is behind Identity-Aware Proxy, whose signed `x-goog-iap-jwt-assertion` is checked.
     * `disabled`: everyone is an operator (the emulator only).
     */
    auth: (typeof OPS_AUTH_MODES)[number];
    audience: string | undefined;
    jwksUrl: string;
    issuers: string[];
    iapAudience: string | undefined;
    iapJwksUrl: string;
    /**
     * Cloud Run's IAM check guards every request (`PUSH_AUTH=cloud-run`): an ID token whose
     * signature it removed is checked by its claims.
     */
    cloudRunIamChecked: boolean;
    /** Lower-case emails or `*@domain`: who may read; operators may also act (re-run, pause, bulk re-run). */
    readers: string[];
    operators: string[];
    /** How long audit entries and bulk re-run jobs are kept (their `expireAt`, for Firestore's TTL policy). */
    auditTtlDays: number;
  };
  /** The execution ledger (docs/ledger.md). */
  ledger: {
    kind: LedgerKind;
    /** Required with `firestore`. */
    projectId: string | undefined;
    databaseId: string;
    collection: string;
    ttlDays: number;
    /** host:port of the Firestore emulator, when talking to it. */
    emulatorHost: string | undefined;
  };
  /**
   * OpenTelemetry (docs/telemetry.md): where traces and metrics are exported over OTLP/HTTP;
   * `undefined` when no endpoint is set (or OTEL_SDK_DISABLED=true): nothing is recorded.
   */
  telemetry: {
    traces: OtlpTarget | undefined;
    metrics: (OtlpTarget & { intervalMs: number }) | undefined;
    serviceName: string;
    sampler: TraceSampler;
    /** The ratio of the `traceidratio` samplers (default 1). */
    samplerRatio: number;
  };
  logLevel: (typeof LOG_LEVELS)[number];
}

/** Where one OpenTelemetry signal is exported: its full OTLP/HTTP URL and the encoding. */
export interface OtlpTarget {
  url: string;
  protocol: OtlpProtocol;
}

/**
 * The standard OTLP resolution: a signal's own endpoint as it is, else the general endpoint with
 * `/v1/{signal}` appended; the signal's own protocol, else the general one, else http/protobuf.
 */
function otlpTarget(
  signal: 'traces' | 'metrics',
  general: string | undefined,
  own: string | undefined,
  protocol: OtlpProtocol | undefined,
): OtlpTarget | undefined {
  const url = own ?? (general === undefined ? undefined : `${general}/v1/${signal}`);
  return url === undefined ? undefined : { url, protocol: protocol ?? DEFAULTS.OTEL_EXPORTER_OTLP_PROTOCOL };
}

/**
 * Threads the memory allows: half of it (the cgroup's limit where there is one, as on Cloud Run) at
 * a budget of 64 MB a thread (~9 MB idle, the rest for what processors allocate), between 4 and 64.
 * 2 GiB gives 16 threads.
 */
function defaultMaxThreads(): number {
  const memory = process.constrainedMemory?.() || totalmem();
  return Math.min(64, Math.max(4, Math.floor(memory / 2 / (64 * 2 ** 20))));
}

function invalid(line: string): never {
  throw new OrchestratorError('CONFIG_INVALID', line);
}

/**
 * Parses the environment once. A bad value throws CONFIG_INVALID with one line that names the
 * variable and what is wrong; the CLI prints that line and exits 2.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    invalid(formatIssues(parsed.error.issues));
  }
  const e = parsed.data;
  if (e.DOCUMENTS_URL && e.DOCUMENTS_DIR) {
    invalid('DOCUMENTS_DIR: set DOCUMENTS_URL or DOCUMENTS_DIR, not both');
  }
  if (e.PUSH_AUTH === 'disabled' && !e.PUBSUB_EMULATOR_HOST) {
    invalid('PUSH_AUTH: "disabled" is refused unless PUBSUB_EMULATOR_HOST is set (a local emulator)');
  }
  if (e.OPS_AUTH === 'disabled' && !e.PUBSUB_EMULATOR_HOST) {
    invalid(
      'OPS_AUTH: "disabled" is refused unless PUBSUB_EMULATOR_HOST is set (a local emulator); use oidc or iap',
    );
  }
  if (e.OPS_AUTH === 'iap' && !e.OPS_IAP_AUDIENCE) {
    invalid(
      'OPS_IAP_AUDIENCE: required with OPS_AUTH=iap (/projects/NUMBER/locations/REGION/services/SERVICE for Cloud Run)',
    );
  }
  if (e.OPS_AUDIENCE !== undefined && e.OPS_AUDIENCE === e.PUSH_AUDIENCE) {
    invalid('OPS_AUDIENCE: must differ from PUSH_AUDIENCE, so that a push token never opens /ops');
  }
  if (e.PUSH_AUTH === 'cloud-run' && !env['K_SERVICE']) {
    invalid(
      'PUSH_AUTH: "cloud-run" trusts Cloud Run\'s IAM check and is refused off Cloud Run (K_SERVICE is not set)',
    );
  }
  if (e.PUBSUB_EMULATOR_HOST && !e.GOOGLE_CLOUD_PROJECT) {
    invalid('GOOGLE_CLOUD_PROJECT: required with PUBSUB_EMULATOR_HOST (any id, e.g. local-project)');
  }
  if (e.LEDGER === 'firestore' && !e.GOOGLE_CLOUD_PROJECT) {
    invalid('GOOGLE_CLOUD_PROJECT: required with LEDGER=firestore (the project of the Firestore database)');
  }
  return {
    pubsub: {
      projectId: e.GOOGLE_CLOUD_PROJECT,
      emulatorHost: e.PUBSUB_EMULATOR_HOST,
      underwritingTopic: e.UNDERWRITING_TOPIC,
      underwritingSubscription: e.UNDERWRITING_SUBSCRIPTION,
      completedTopic: e.COMPLETED_TOPIC,
      deadLetterTopic: e.DEAD_LETTER_TOPIC,
      pullMaxMessages: e.PULL_MAX_MESSAGES,
    },
    documentsUrl: e.DOCUMENTS_URL,
    documentsAudience: e.DOCUMENTS_AUDIENCE,
    documentsHttp: {
      concurrency: e.DOCUMENTS_CONCURRENCY,
      timeoutMs: e.DOCUMENTS_TIMEOUT_MS,
      budgetMs: e.DOCUMENTS_BUDGET_MS,
      attempts: e.DOCUMENTS_ATTEMPTS,
    },
    documentsDir: e.DOCUMENTS_DIR ? resolve(e.DOCUMENTS_DIR) : undefined,
    processorsDir: processorsDir(e.PROCESSORS_DIR, e.PROCESSOR_PACKAGES),
    processorPackages: e.PROCESSOR_PACKAGES ?? [],
    purchasesFile: e.PURCHASES_FILE ? resolve(e.PURCHASES_FILE) : undefined,
    processorTimeoutMs: e.PROCESSOR_TIMEOUT_MS,
    processorTimeoutGraceMs: e.PROCESSOR_TIMEOUT_GRACE_MS,
    processorThreads: e.PROCESSOR_THREADS,
    processorMaxThreads: Math.max(e.PROCESSOR_THREADS, e.PROCESSOR_MAX_THREADS),
    processorMaxHeapMb: e.PROCESSOR_MAX_HEAP_MB,
    port: e.PORT,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    push: {
      auth: e.PUSH_AUTH,
      audience: e.PUSH_AUDIENCE,
      serviceAccount: e.PUSH_SERVICE_ACCOUNT,
      jwksUrl: e.PUSH_JWKS_URL,
      issuers: e.PUSH_ISSUERS,
      ackDeadlineSeconds: e.PUSH_ACK_DEADLINE_SECONDS,
    },
    ops: {
      auth: e.OPS_AUTH,
      audience: e.OPS_AUDIENCE,
      jwksUrl: e.OPS_JWKS_URL,
      issuers: e.OPS_ISSUERS,
      iapAudience: e.OPS_IAP_AUDIENCE,
      iapJwksUrl: e.OPS_IAP_JWKS_URL,
      cloudRunIamChecked: e.PUSH_AUTH === 'cloud-run',
      readers: e.OPS_READERS ?? [],
      operators: e.OPS_OPERATORS ?? [],
      auditTtlDays: e.OPS_AUDIT_TTL_DAYS,
    },
    ledger: {
      kind: e.LEDGER,
      projectId: e.GOOGLE_CLOUD_PROJECT,
      databaseId: e.FIRESTORE_DATABASE,
      collection: e.LEDGER_COLLECTION,
      ttlDays: e.LEDGER_TTL_DAYS,
      emulatorHost: e.FIRESTORE_EMULATOR_HOST,
    },
    telemetry: telemetryConfig(e),
    logLevel: e.LOG_LEVEL,
  };
}

/** Where the configured processors come from: `PROCESSORS_DIR`, then `PROCESSOR_PACKAGES`. */
export function processorSources(
  config: Pick<Config, 'processorsDir' | 'processorPackages'>,
): ProcessorSources {
  return { dir: config.processorsDir, packages: config.processorPackages };
}

/** `PROCESSORS_DIR`; else the built processors, unless packages are named (they replace them). */
function processorsDir(dir: string | undefined, packages: string[] | undefined): string | undefined {
  if (dir) return resolve(dir);
  return packages && packages.length > 0 ? undefined : builtProcessorsDir;
}

function telemetryConfig(e: z.infer<typeof EnvSchema>): Config['telemetry'] {
  const on = e.OTEL_SDK_DISABLED !== 'true';
  const general = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  const traces = otlpTarget(
    'traces',
    general,
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL,
  );
  const metrics = otlpTarget(
    'metrics',
    general,
    e.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    e.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL,
  );
  return {
    traces: on ? traces : undefined,
    metrics: on && metrics ? { ...metrics, intervalMs: e.OTEL_METRIC_EXPORT_INTERVAL } : undefined,
    serviceName: e.OTEL_SERVICE_NAME,
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
  };
}

/** The paths the configuration names, each with its variable and what it must be. */
function configuredPaths(config: Config) {
  return [
    { variable: 'PROCESSORS_DIR', path: config.processorsDir, folder: true },
    { variable: 'DOCUMENTS_DIR', path: config.documentsDir, folder: true },
    { variable: 'PURCHASES_FILE', path: config.purchasesFile, folder: false },
  ] as const;
}

/**
 * Start-up check of the folders and file the configuration names: each that is set must exist,
 * be a folder (a file for `PURCHASES_FILE`) and be readable. A typo would otherwise fail every
 * event (every document "not found") instead of the start. Throws CONFIG_INVALID naming the
 * variable: the CLI exits 2.
 */
export async function checkConfiguredPaths(config: Config): Promise<void> {
  for (const { variable, path, folder } of configuredPaths(config)) {
    if (path === undefined) continue;
    try {
      const info = await stat(path);
      if (folder && !info.isDirectory()) invalid(`${variable}: ${path} is not a folder`);
      if (!folder && !info.isFile()) invalid(`${variable}: ${path} is not a file`);
      await access(path, folder ? constants.R_OK | constants.X_OK : constants.R_OK);
    } catch (err) {
      if (err instanceof OrchestratorError) throw err;
      invalid(`${variable}: ${path} ${unreadableReason(err)}`);
    }
  }
}
