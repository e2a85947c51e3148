import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import { createAdmission } from './admission/admission.js';
import { checkPushAckDeadline, deadlineBudget } from './budget.js';
import type { Config } from './config.js';
import type { OrchestratorError } from './errors.js';
import { createPauseCache } from './guard/pause-cache.js';
import { createLedger } from './ledger/create.js';
import { createOpsApi } from './ops/api.js';
import { createOpsAuth } from './ops/auth.js';
import { startCarrier, type Carrier } from './ops/carrier.js';
import { registerOpsPage } from './ops/page.js';
import { registerOps, type OpsPage } from './ops/routes.js';
import { createRerunPublisher } from './ops/rerun-publisher.js';
import type { Logger } from './logging.js';
import { portInUse } from './port.js';
import { documentsBudgetMs, startRuntime, type Runtime } from './runtime.js';
import { createDeadLetter } from './transport/dead-letter.js';
import { createMessageHandler } from './transport/handler.js';
import { createHttpServer } from './transport/http.js';
import { createCompletedPublisher, PUBLISH_TIMEOUT_MS } from './transport/publisher.js';
import { createPushAuth } from './transport/push-auth.js';
import { registerPushRoute, type PushPipeline } from './transport/push.js';
import type { PullSubscriber } from './transport/pull.js';
import { lazyPubSub, once } from './transport/pubsub.js';
import { openTelemetry } from './telemetry/open.js';
import type { Telemetry } from './telemetry/telemetry.js';

// After the drain deadline: the subscriber nacks what is left and flushes its acks and nacks.
const CLOSE_MARGIN_MS = 1_500;
// Push only: the Pub/Sub client loads once the first /readyz 200 is answered, or this long after
// the service is ready when no probe asks.
const PUBLISHER_WARM_AFTER_READY_MS = 1_000;

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
 * here, before any message is taken.
 */
export interface ServiceOptions {
  /** Registers the `/ops` page inside the authenticated ops scope (see `registerOps`); default: `registerOpsPage`. */
  opsPage?: OpsPage;
  /**
   * Telemetry opened, and the runtime being started, by the caller: `serve` starts the pool
   * before it imports this module, so its threads boot while the transports load.
   */
  early?: { telemetry: Telemetry; runtime: Promise<Runtime> };
}

export async function startService(
  config: Config,
  log: Logger,
  host: string,
  options: ServiceOptions = {},
): Promise<Service> {
  const telemetry =
    options.early?.telemetry ?? (await openTelemetry(config.telemetry, config.pubsub.projectId));
  const runtimeStarting = options.early?.runtime ?? startRuntime(config, log, telemetry);
  // Awaited below, after the HTTP server listens; a failure before then is handled there.
  runtimeStarting.catch(() => {});
  // Loaded when first needed: at once when pulling, else once the rest is ready (see below).
  const pubsub = lazyPubSub(config.pubsub);
  const pulling = config.pubsub.underwritingSubscription !== undefined;
  const publisher = createCompletedPublisher(
    pubsub.client,
    config.pubsub.completedTopic,
    log,
    telemetry.tracer,
  );
  const warmPublisher = once(() => (stopping ? Promise.resolve() : publisher.warm()));
  const pushAuth = createPushAuth(config.push, log);
  const { ledger, opsState } = await createLedger(config.ledger, log, config.ops);
  // Pauses as the hot path reads them; the carrier of bulk re-run jobs starts with the runtime.
  const pauseCache = opsState && createPauseCache(opsState.pauses, log);
  const instance = randomUUID();
  let carrier: Carrier | undefined;
  const opsAuth = createOpsAuth(config.ops, log);
  const rerunPublisher = createRerunPublisher(pubsub.client, config.pubsub.underwritingTopic);
  let resolvePipeline: (pipeline: PushPipeline | undefined) => void = () => {};
  const pipelineReady = new Promise<PushPipeline | undefined>((resolve) => (resolvePipeline = resolve));
  let runtime: Runtime | undefined;
  let pull: PullSubscriber | undefined;
  let stopping: Promise<void> | undefined;
  let exitCode = 0;
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));

  const server = createHttpServer(log, () => {
    const problems: Record<string, string> = {};
    const warming: Record<string, string> = {};
    if (stopping) problems['service'] = 'shutting down';
    if (!runtime) problems['pool'] = 'starting';
    const publisherProblem = publisher.notReady();
    // A push taken while the publisher connects waits for it before its answer (docs/running.md#start-up).
    if (publisherProblem)
      (pulling || !publisher.connecting() ? problems : warming)['publisher'] = publisherProblem;
    if (config.pubsub.underwritingSubscription && !pull?.isOpen()) problems['subscription'] = 'not open';
    const pushProblem = pushAuth.notReady();
    if (pushProblem) problems['push'] = pushProblem;
    const ledgerProblem = ledger.notReady();
    if (ledgerProblem) problems['ledger'] = ledgerProblem;
    // Loading the client holds this thread ~0.3 s: after this answer, so that the probe that lets
    // traffic in is not kept waiting by it.
    if (!pulling && runtime && Object.keys(problems).length === 0) setImmediate(() => void warmPublisher());
    return { problems, warming };
  });
  registerPushRoute(server, { auth: pushAuth, pipeline: pipelineReady, log });
  let inFlight = () => 0;
  const opsApi = createOpsApi({
    history: ledger.history,
    publishRerun: (event, attributes) => rerunPublisher.publish(event, attributes),
    inFlight: () => inFlight(),
    log,
    state: opsState,
    pausesChanged: () => pauseCache?.refresh() ?? Promise.resolve(),
    installed: () => runtime && [...runtime.processors.keys()],
    circuits: () => runtime?.guard.circuits() ?? [],
    carrier: { wake: () => carrier?.wake() },
    owner: instance,
  });
  registerOps(server, { api: opsApi, auth: opsAuth, log, page: options.opsPage ?? registerOpsPage });
  try {
    await server.listen({ port: config.port, host });
  } catch (err) {
    resolvePipeline(undefined);
    pushAuth.close();
    opsAuth.close();
    publisher.close();
    await runtimeStarting.then(
      (started) => started.close(),
      () => {},
    );
    await ledger.close();
    await pubsub.close();
    await telemetry.shutdown();
    if ((err as { code?: unknown }).code === 'EADDRINUSE') throw portInUse(config.port, host, err);
    throw err;
  }

  // Ops keys are fetched in the background: readiness (taking events) does not wait for them.
  void opsAuth.start();
  try {
    [runtime] = await Promise.all([
      runtimeStarting,
      pulling && publisher.warm(),
      pushAuth.start(),
      ledger.warm(),
    ]);
    // Before any event is handed to it: the runtime may have started before the ledger existed.
    if (pauseCache) runtime.guard.readPauses(pauseCache);
  } catch (err) {
    resolvePipeline(undefined);
    pushAuth.close();
    opsAuth.close();
    await server.close();
    publisher.close();
    await ledger.close();
    await pubsub.close();
    await telemetry.shutdown();
    throw err;
  }
  const started: Runtime = runtime;
  const handler = createMessageHandler({
    orchestrator: started.orchestrator,
    publisher,
    deadLetter: createDeadLetter(pubsub.client, config.pubsub.deadLetterTopic, log),
    ledger,
    log,
    telemetry,
  });
  // How many events this instance takes, from what it measures (docs/scheduler.md#admission).
  const admission = createAdmission({
    pool: started.pool,
    log,
    onRefused: (reason) => telemetry.metrics.admissionRefused.add(1, { 'admission.reason': reason }),
  });
  resolvePipeline({ handler, admission });
  // Push only: taking a push needs no Pub/Sub client until its processors have run, so the
  // client loads and connects in the background, once the first /readyz 200 is answered (above)
  // or a second from now; a publish that comes first loads it, and waits for it.
  if (!pulling) setTimeout(() => void warmPublisher(), PUBLISHER_WARM_AFTER_READY_MS).unref();
  inFlight = () => handler.inFlight();
  if (opsState && ledger.history) {
    carrier = startCarrier({
      jobs: opsState.jobs,
      history: ledger.history,
      publish: (event, attributes) => rerunPublisher.publish(event, attributes),
      log,
      owner: instance,
    });
  }
  const budget = deadlineBudget({
    processors: [...started.processors.values()].map((p) => ({
      ...p,
      timeoutMs: p.timeoutMs ?? config.processorTimeoutMs,
    })),
    graceMs: config.processorTimeoutGraceMs,
    documentsMs: documentsBudgetMs(config),
    publishMs: PUBLISH_TIMEOUT_MS,
  });
  if (pushAuth.enabled) checkPushAckDeadline(budget, config.push.ackDeadlineSeconds, log);
  if (config.pubsub.underwritingSubscription) {
    const { startPull } = await import('./transport/pull.js');
    pull = startPull({
      pubsub: await pubsub.client(),
      subscription: config.pubsub.underwritingSubscription,
      handler,
      admission,
      maxMessages: config.pubsub.pullMaxMessages,
      closeTimeoutMs: config.shutdownTimeoutMs + CLOSE_MARGIN_MS,
      onFatal: (err: OrchestratorError) => {
        log.error({ code: err.code, err }, err.message);
        exitCode = 1;
        void stop('the pull subscription failed');
      },
      log,
    });
  }

  function stop(reason: string): Promise<void> {
    stopping ??= (async () => {
      log.info({ reason, in_flight: handler.inFlight() }, 'shutting down');
      try {
        const closing = pull?.close();
        // Awaited below; until then a rejection must not count as unhandled.
        void closing?.catch(() => {});
        const abandoned = await handler.drain(config.shutdownTimeoutMs);
        admission.close();
        // Runs of abandoned events are still in the pool: ending its threads ends them.
        await started.close();
        await closing;
        await server.close();
        // Its job's lease lets another instance carry it on.
        await carrier?.close();
        pushAuth.close();
        opsAuth.close();
        publisher.close();
        await ledger.close();
        await pubsub.close();
        // Last: the spans and metrics of the events that just finished are flushed.
        await telemetry.shutdown();
        log.info(
          { abandoned, ledger_operations: ledger.operations() },
          abandoned > 0 ? 'stopped; unfinished events were nacked' : 'stopped',
        );
      } catch (err) {
        // Every verdict was given before anything could throw here; say what failed, and exit.
        exitCode = 1;
        log.error({ err }, 'shutdown did not finish cleanly');
      } finally {
        resolveStopped(exitCode);
      }
    })();
    return stopping;
  }

  const { port } = server.server.address() as AddressInfo;
  log.info(
    {
      port,
      processors: [...started.processors.keys()],
      threads: config.processorThreads,
      max_threads: config.processorMaxThreads,
      push: pushAuth.enabled ? config.push.auth : 'refused',
      ops: config.ops.auth,
      deadline_budget_s: budget.totalMs / 1000,
      subscription: config.pubsub.underwritingSubscription ?? null,
      pull_max_messages: pull ? (config.pubsub.pullMaxMessages ?? null) : null,
      memory_limit_mb: admission.stats().limit_mb,
      completed_topic: config.pubsub.completedTopic,
      dead_letter_topic: config.pubsub.deadLetterTopic ?? null,
      emulator: config.pubsub.emulatorHost ?? null,
      ledger: ledgerWhere(config.ledger),
      traces: config.telemetry.traces?.url ?? null,
      metrics: config.telemetry.metrics?.url ?? null,
    },
    'serving',
  );
  return { port, stop, stopped };
}

/** Where the ledger is, for the start-up line and `dev`'s banner. */
export function ledgerWhere(ledger: Config['ledger']): string {
  if (ledger.kind !== 'firestore') return ledger.kind;
  const where = ledger.emulatorHost
    ? `the emulator at ${ledger.emulatorHost}`
    : `project ${ledger.projectId ?? ''}`;
  return `firestore: ${where}, database ${ledger.databaseId}, collection ${ledger.collection}`;
}
