import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import { createAdmission, type Admission } from './admission/admission.js';
import { checkPushAckDeadline, deadlineBudget, type DeadlineBudget } from './budget.js';
import type { Config } from './config.js';
import type { OrchestratorError } from './errors.js';
import { createPauseCache, type PauseCache } from './guard/pause-cache.js';
import { createLedger } from './ledger/create.js';
import type { Ledger } from './ledger/ledger.js';
import type { OpsState } from './ledger/ops-records.js';
import { createLifecycle, StoppedWhileStarting, type Lifecycle } from './lifecycle.js';
import { createOpsApi } from './ops/api.js';
import { createOpsAuth, type OpsAuth } from './ops/auth.js';
import { startCarrier, type Carrier } from './ops/carrier.js';
import { registerOpsPage } from './ops/page.js';
import { registerOps, type OpsPage } from './ops/routes.js';
import { createRerunPublisher } from './ops/rerun-publisher.js';
import type { Logger } from './logging.js';
import { portInUse } from './port.js';
import { documentsBudgetMs, startRuntime, type Runtime } from './runtime.js';
import { createDeadLetter } from './transport/dead-letter.js';
import { createMessageHandler, type MessageHandler } from './transport/handler.js';
import { createHttpServer, type HttpServer, type Readiness } from './transport/http.js';
import {
  createCompletedPublisher,
  PUBLISH_TIMEOUT_MS,
  type CompletedPublisher,
} from './transport/publisher.js';
import { createPushAuth, type PushAuth } from './transport/push-auth.js';
import { registerPushRoute, type PushPipeline } from './transport/push.js';
import type { PullSubscriber } from './transport/pull.js';
import { lazyPubSub, once, type PubSubClient } from './transport/pubsub.js';
import { openTelemetry } from './telemetry/open.js';
import type { Telemetry } from './telemetry/telemetry.js';

// After the drain deadline: the subscriber nacks what is left and flushes its acks and nacks.
const CLOSE_MARGIN_MS = 1_500;
// Push only: the Pub/Sub client loads once the first /readyz 200 is answered, or this long after
// the service is ready when no probe asks.
const PUBLISHER_WARM_AFTER_READY_MS = 1_000;
// Connections the kernel keeps for the HTTP server until it accepts them. Node's default, 511,
// overflows when a burst of pushes meets a main thread busy for a moment (loading the Pub/Sub
// client right after readiness takes ~0.4 s): a connection past it is dropped, and its client
// tries again a second later, then three. Linux caps it at net.core.somaxconn (4096 since 5.4).
const LISTEN_BACKLOG = 4_096;

export interface Service {
  /** The HTTP port it listens on. */
  port: number;
  /**
   * Graceful stop: readiness fails, no new message is taken, in-flight events get
   * `SHUTDOWN_TIMEOUT_MS` to finish and the rest are nacked; then everything is closed.
   * Idempotent; resolves when stopped.
   */
  stop(reason: string): Promise<void>;
  /** Resolves with the process exit code once the service has stopped: 0, or 1 after a failure. */
  stopped: Promise<number>;
}

/**
 * `serve`: the HTTP server first (so probes answer while the rest starts; a push that arrives
 * meanwhile waits), then the processors, the pool, the publisher and the push signing keys,
 * then the pull subscription when one is configured. A bad plugin or configuration rejects
 * here, before any message is taken, and whatever was opened before is closed.
 */
export interface ServiceOptions {
  /** Registers the `/ops` page inside the authenticated ops scope (see `registerOps`); default: `registerOpsPage`. */
  opsPage?: OpsPage;
  /**
   * Telemetry opened, and the runtime being started, by the caller: `serve` starts the pool
   * before it imports this module, so its threads boot while the transports load. Both are the
   * service's from here: it closes them. `checked`: a check the caller started that must pass
   * before anything listens (`serve`: the emulator answers).
   */
  early?: { telemetry: Telemetry; runtime: Promise<Runtime>; checked?: Promise<unknown> };
  /** Aborted while starting (`serve`: a SIGTERM): what was opened is closed, and `StoppedWhileStarting` is thrown. */
  signal?: AbortSignal;
  /** What the service registers its resources with; default: a new lifecycle (tests watch it). */
  lifecycle?: Lifecycle;
}

export async function startService(
  config: Config,
  log: Logger,
  host: string,
  options: ServiceOptions = {},
): Promise<Service> {
  const life = options.lifecycle ?? createLifecycle(log, options.signal);
  try {
    return await start(config, log, host, options, life);
  } catch (err) {
    // Whichever step failed, what the steps before it opened is closed.
    await life.close();
    if (err instanceof StoppedWhileStarting)
      log.info({ reason: String(err.reason) }, 'stopped while starting');
    throw err;
  }
}

/** What the probes, the ops routes and the stop read; set as each part starts. */
interface Live {
  stopping: boolean;
  runtime?: Runtime;
  pull?: PullSubscriber;
  carrier?: Carrier;
  handler?: MessageHandler;
  /** Events the drain gave up on (nacked). */
  abandoned: number;
}

// The steps in order, each resource registered with its close as it is opened: a stop, or a
// step that fails, closes them the last opened first (the intake's drain closes the pool early).
async function start(
  config: Config,
  log: Logger,
  host: string,
  options: ServiceOptions,
  life: Lifecycle,
): Promise<Service> {
  const { telemetry, runtimeStarting, closeRuntime } = await openRuntime(config, log, options, life);
  await life.until(options.early?.checked);
  const parts = await openClients(config, log, telemetry, life);
  const live: Live = { stopping: false, abandoned: 0 };
  const { stop, stopped } = serviceStop(life, log, live, parts.ledger);
  const warmPublisher = once(() => (live.stopping ? Promise.resolve() : parts.publisher.warm()));
  const ready = readiness(config, live, { ...parts, warmPublisher });
  const { server, pipeline } = await serveHttp(config, log, host, {
    ...parts,
    ready,
    live,
    life,
    page: options.opsPage,
  });

  // Ops keys are fetched in the background: readiness (taking events) does not wait for them.
  void parts.opsAuth.start();
  const [runtime] = await life.until(
    Promise.all([
      runtimeStarting,
      pulling(config) && parts.publisher.warm(),
      parts.pushAuth.start(),
      parts.ledger.warm(),
    ]),
  );
  // Before any event is handed to it: the runtime may have started before the ledger existed.
  if (parts.pauseCache) runtime.guard.readPauses(parts.pauseCache);
  live.runtime = runtime;
  const { handler, admission, closeAdmission } = openIntake(config, log, {
    ...parts,
    telemetry,
    runtime,
    life,
    live,
  });
  pipeline.resolve({ handler, admission });
  // Push only: taking a push needs no Pub/Sub client until its processors have run, so the
  // client loads and connects in the background, once the first /readyz 200 is answered
  // (`readiness`) or a second from now; a publish that comes first loads it, and waits for it.
  if (!pulling(config)) setTimeout(() => void warmPublisher(), PUBLISHER_WARM_AFTER_READY_MS).unref();
  live.carrier = openCarrier(log, life, parts);
  const budget = serviceBudget(config, runtime, parts.pushAuth.enabled, log);
  const pull = pulling(config)
    ? await openPull(config, life, { pubsub: parts.pubsub.client, handler, admission, log, stop })
    : undefined;
  live.pull = pull?.subscriber;
  const closers = { pull: pull?.close, admission: closeAdmission, runtime: closeRuntime };
  life.add('intake', () => drainIntake(config, live, handler, closers));
  const { port } = server.server.address() as AddressInfo;
  logServing(config, log, { port, runtime, pushAuth: parts.pushAuth, budget, pull: live.pull, admission });
  return { port, stop, stopped };
}

/** Telemetry, and the runtime starting (the pool's threads boot meanwhile): the caller's, or opened here. */
async function openRuntime(config: Config, log: Logger, options: ServiceOptions, life: Lifecycle) {
  const telemetry =
    options.early?.telemetry ?? (await openTelemetry(config.telemetry, config.pubsub.projectId));
  life.add('telemetry', () => telemetry.shutdown());
  const runtimeStarting = options.early?.runtime ?? startRuntime(config, log, telemetry);
  // Awaited once the HTTP server listens; until then a rejection must not count as unhandled.
  runtimeStarting.catch(() => {});
  const closeRuntime = life.add('runtime', async () =>
    (await runtimeStarting.catch(() => undefined))?.close(),
  );
  return { telemetry, runtimeStarting, closeRuntime };
}

/** The clients the service talks through; none connects here (each is warmed or used later). */
async function openClients(config: Config, log: Logger, telemetry: Telemetry, life: Lifecycle) {
  // Loaded when first needed: at once when pulling, else once the rest is ready (`readiness`).
  const pubsub = lazyPubSub(config.pubsub);
  life.add('Pub/Sub client', () => pubsub.close());
  const { ledger, opsState } = await createLedger(config.ledger, log, config.ops);
  life.add('ledger', () => ledger.close());
  const { completedTopic } = config.pubsub;
  const publisher = createCompletedPublisher(pubsub.client, completedTopic, log, telemetry.tracer);
  life.add('publisher', () => publisher.close());
  const pushAuth = createPushAuth(config.push, log);
  life.add('push auth', () => pushAuth.close());
  const opsAuth = createOpsAuth(config.ops, log);
  life.add('ops auth', () => opsAuth.close());
  // Pauses as the hot path reads them; the carrier of bulk re-run jobs starts with the runtime.
  const pauseCache = opsState && createPauseCache(opsState.pauses, log);
  const rerunPublisher = createRerunPublisher(pubsub.client, config.pubsub.underwritingTopic);
  const publishRerun = rerunPublisher.publish.bind(rerunPublisher);
  const owner = randomUUID();
  return { pubsub, ledger, opsState, publisher, pushAuth, opsAuth, pauseCache, publishRerun, owner };
}

/** The HTTP server, listening: probes, the push route (it waits for `pipeline`), the ops routes. */
async function serveHttp(
  config: Config,
  log: Logger,
  host: string,
  deps: OpsParts & { pushAuth: PushAuth; ready: Readiness; live: Live; life: Lifecycle },
) {
  const server = createHttpServer(log, deps.ready);
  const pipeline = deferred<PushPipeline | undefined>();
  registerPushRoute(server, { auth: deps.pushAuth, pipeline: pipeline.promise, log });
  registerOpsRoutes(server, deps.live, log, deps);
  await listen(server, config.port, host);
  // A push still waiting for the pipeline is answered (503) before the server closes.
  deps.life.add('HTTP server', () => {
    pipeline.resolve(undefined);
    return server.close();
  });
  return { server, pipeline };
}

/** The carrier of bulk re-run jobs, where the ledger keeps them. */
function openCarrier(log: Logger, life: Lifecycle, parts: Clients): Carrier | undefined {
  const { opsState, ledger, publishRerun, owner } = parts;
  if (!opsState || !ledger.history) return undefined;
  const carrier = startCarrier({
    jobs: opsState.jobs,
    history: ledger.history,
    publish: publishRerun,
    log,
    owner,
  });
  // Its job's lease lets another instance carry it on.
  life.add('bulk re-run carrier', () => carrier.close());
  return carrier;
}

/** The message handler and admission: what both transports hand events to. */
function openIntake(
  config: Config,
  log: Logger,
  deps: Pick<Clients, 'pubsub' | 'publisher' | 'ledger'> & {
    telemetry: Telemetry;
    runtime: Runtime;
    life: Lifecycle;
    live: Live;
  },
) {
  const { telemetry, runtime, ledger, publisher } = deps;
  const deadLetter = createDeadLetter(deps.pubsub.client, config.pubsub.deadLetterTopic, log);
  const handler = createMessageHandler({
    orchestrator: runtime.orchestrator,
    publisher,
    deadLetter,
    ledger,
    log,
    telemetry,
  });
  deps.live.handler = handler;
  // How many events this instance takes, from what it measures (docs/scheduler.md#admission).
  const admission = createAdmission({
    pool: runtime.pool,
    log,
    onRefused: (reason) => telemetry.metrics.admissionRefused.add(1, { 'admission.reason': reason }),
  });
  const closeAdmission = deps.life.add('admission', () => admission.close());
  return { handler, admission, closeAdmission };
}

/**
 * The intake's close, the first of a stop: pulling stops, the events in flight get
 * `SHUTDOWN_TIMEOUT_MS` to finish (the rest are nacked), then admission closes and the pool does
 * (ending the runs of abandoned events) before the subscriber's last acks and nacks are awaited.
 */
async function drainIntake(
  config: Config,
  live: Live,
  handler: MessageHandler,
  close: { pull: (() => Promise<void>) | undefined; admission: Closer; runtime: Closer },
): Promise<void> {
  const pullClosed = close.pull?.();
  live.abandoned = await handler.drain(config.shutdownTimeoutMs);
  await close.admission();
  // Runs of abandoned events are still in the pool: ending its threads ends them.
  await close.runtime();
  await pullClosed;
}

type Closer = () => Promise<void>;
type Clients = Awaited<ReturnType<typeof openClients>>;

const pulling = (config: Config) => config.pubsub.underwritingSubscription !== undefined;

/** Resolved once the service has stopped; `stop` is idempotent and says why in the log. */
function serviceStop(life: Lifecycle, log: Logger, live: Live, ledger: Ledger) {
  let stopping: Promise<void> | undefined;
  let exitCode = 0;
  const stopped = deferred<number>();
  function stop(reason: string, failed = false): Promise<void> {
    if (failed) exitCode = 1;
    stopping ??= (async () => {
      live.stopping = true;
      log.info({ reason, in_flight: live.handler?.inFlight() ?? 0 }, 'shutting down');
      // Every verdict is given by the intake's close, the first; a close that fails is logged.
      if (await life.close()) {
        const { abandoned } = live;
        const ledger_operations = ledger.operations();
        log.info(
          { abandoned, ledger_operations },
          abandoned > 0 ? 'stopped; unfinished events were nacked' : 'stopped',
        );
      } else {
        exitCode = 1;
        log.error('shutdown did not finish cleanly');
      }
      stopped.resolve(exitCode);
    })();
    return stopping;
  }
  return { stop, stopped: stopped.promise };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** `/readyz`: what keeps the service from taking events, and what still warms up. */
function readiness(
  config: Config,
  live: Live,
  parts: {
    publisher: CompletedPublisher;
    pushAuth: PushAuth;
    ledger: Ledger;
    warmPublisher: () => Promise<void>;
  },
): Readiness {
  const { publisher, pushAuth, ledger } = parts;
  return () => {
    const problems: Record<string, string> = {};
    const warming: Record<string, string> = {};
    if (live.stopping) problems['service'] = 'shutting down';
    if (!live.runtime) problems['pool'] = 'starting';
    const publisherProblem = publisher.notReady();
    // A push taken while the publisher connects waits for it before its answer (docs/running.md#start-up).
    if (publisherProblem)
      (pulling(config) || !publisher.connecting() ? problems : warming)['publisher'] = publisherProblem;
    if (pulling(config) && !live.pull?.isOpen()) problems['subscription'] = 'not open';
    const pushProblem = pushAuth.notReady();
    if (pushProblem) problems['push'] = pushProblem;
    const ledgerProblem = ledger.notReady();
    if (ledgerProblem) problems['ledger'] = ledgerProblem;
    // Loading the client holds this thread ~0.3 s: after this answer, so that the probe that lets
    // traffic in is not kept waiting by it.
    if (!pulling(config) && live.runtime && Object.keys(problems).length === 0)
      setImmediate(() => void parts.warmPublisher());
    return { problems, warming };
  };
}

interface OpsParts {
  ledger: Ledger;
  opsState: OpsState | undefined;
  pauseCache: PauseCache | undefined;
  opsAuth: OpsAuth;
  publishRerun: ReturnType<typeof createRerunPublisher>['publish'];
  owner: string;
  page?: OpsPage | undefined;
}

function registerOpsRoutes(server: HttpServer, live: Live, log: Logger, ops: OpsParts): void {
  const api = createOpsApi({
    history: ops.ledger.history,
    publishRerun: ops.publishRerun,
    inFlight: () => live.handler?.inFlight() ?? 0,
    log,
    state: ops.opsState,
    pausesChanged: () => ops.pauseCache?.refresh() ?? Promise.resolve(),
    installed: () => live.runtime && [...live.runtime.processors.keys()],
    circuits: () => live.runtime?.guard.circuits() ?? [],
    carrier: { wake: () => live.carrier?.wake() },
    owner: ops.owner,
  });
  registerOps(server, { api, auth: ops.opsAuth, log, page: ops.page ?? registerOpsPage });
}

async function listen(server: HttpServer, port: number, host: string): Promise<void> {
  try {
    await server.listen({ port, host, backlog: LISTEN_BACKLOG });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EADDRINUSE') throw portInUse(port, host, err);
    throw err;
  }
}

/** The longest an event can take (the deadline budget); push checks the subscription's ack deadline against it. */
function serviceBudget(config: Config, runtime: Runtime, pushEnabled: boolean, log: Logger): DeadlineBudget {
  const budget = deadlineBudget({
    processors: [...runtime.processors.values()].map((p) => ({
      ...p,
      timeoutMs: p.timeoutMs ?? config.processorTimeoutMs,
    })),
    graceMs: config.processorTimeoutGraceMs,
    documentsMs: documentsBudgetMs(config),
    publishMs: PUBLISH_TIMEOUT_MS,
  });
  if (pushEnabled) checkPushAckDeadline(budget, config.push.ackDeadlineSeconds, log);
  return budget;
}

/** The pull subscriber; a failure for good (`onFatal`) stops the service with exit 1. */
async function openPull(
  config: Config,
  life: Lifecycle,
  deps: {
    pubsub: PubSubClient;
    handler: MessageHandler;
    admission: Admission;
    log: Logger;
    stop: (reason: string, failed: boolean) => Promise<void>;
  },
): Promise<{ subscriber: PullSubscriber; close: Closer }> {
  const { startPull } = await import('./transport/pull.js');
  const { log, stop } = deps;
  const subscriber = startPull({
    pubsub: await deps.pubsub(),
    subscription: config.pubsub.underwritingSubscription ?? '',
    handler: deps.handler,
    admission: deps.admission,
    maxMessages: config.pubsub.pullMaxMessages,
    closeTimeoutMs: config.shutdownTimeoutMs + CLOSE_MARGIN_MS,
    onFatal: (err: OrchestratorError) => {
      log.error({ code: err.code, err }, err.message);
      void stop('the pull subscription failed', true);
    },
    log,
  });
  return { subscriber, close: life.add('pull subscription', () => subscriber.close()) };
}

function logServing(
  config: Config,
  log: Logger,
  parts: {
    port: number;
    runtime: Runtime;
    pushAuth: PushAuth;
    budget: DeadlineBudget;
    pull: PullSubscriber | undefined;
    admission: Admission;
  },
): void {
  log.info(
    {
      port: parts.port,
      processors: [...parts.runtime.processors.keys()],
      threads: config.processorThreads,
      max_threads: config.processorMaxThreads,
      push: parts.pushAuth.enabled ? config.push.auth : 'refused',
      ops: config.ops.auth,
      deadline_budget_s: parts.budget.totalMs / 1000,
      subscription: config.pubsub.underwritingSubscription ?? null,
      pull_max_messages: parts.pull ? (config.pubsub.pullMaxMessages ?? null) : null,
      memory_limit_mb: parts.admission.stats().limit_mb,
      completed_topic: config.pubsub.completedTopic,
      dead_letter_topic: config.pubsub.deadLetterTopic ?? null,
      emulator: config.pubsub.emulatorHost ?? null,
      ledger: ledgerWhere(config.ledger),
      traces: config.telemetry.traces?.url ?? null,
      metrics: config.telemetry.metrics?.url ?? null,
    },
    'serving',
  );
}

/** Where the ledger is, for the start-up line and `dev`'s banner. */
export function ledgerWhere(ledger: Config['ledger']): string {
  if (ledger.kind !== 'firestore') return ledger.kind;
  const where = ledger.emulatorHost
    ? `the emulator at ${ledger.emulatorHost}`
    : `project ${ledger.projectId ?? ''}`;
  return `firestore: ${where}, database ${ledger.databaseId}, collection ${ledger.collection}`;
}
