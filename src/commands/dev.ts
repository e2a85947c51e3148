import { join } from 'node:path';

import { DEFAULTS, loadConfig, processorSources } from '../config.js';
import { OrchestratorError, hintOf, messageOf } from '../errors.js';
import { createLogger } from '../logging.js';
import { checkSdkEmulator, type Emulator, type StartEmulatorOptions } from '../emulators/launcher.js';
import { FIRESTORE_EMULATOR, startFirestoreEmulator } from '../ledger/emulator.js';
import { examplesDir } from '../paths.js';
import { assertPortFree } from '../port.js';
import { describeSources } from '../processors/discovery.js';
import { PUBSUB_EMULATOR, startEmulator } from '../pubsub/emulator.js';
import { checkEmulator } from '../pubsub/probe.js';
import { deleteSubscription, ensureSubscription, ensureTopic } from '../pubsub/resources.js';
import { ledgerWhere, startService } from '../service.js';
import { createPubSub } from '../transport/pubsub-client.js';
import { PUSH_PATH } from '../transport/push.js';
import { commandArgs } from './args.js';
import { untilSignalled } from './serve.js';

/** Where dev serves, and starts the emulators: loopback only. */
const DEV_HOST = '127.0.0.1';
/** Where dev starts the emulator when the port is free, and where replay looks by default. */
export const DEV_EMULATOR_PORT = 8085;
/** Where dev starts the Firestore emulator when the port is free. */
export const DEV_FIRESTORE_PORT = 8086;

function portIsFree(port: number): Promise<boolean> {
  return assertPortFree(port, DEV_HOST).then(
    () => true,
    () => false,
  );
}

/** What `dev` uses unless the environment says otherwise. */
export const DEV_DEFAULTS = {
  GOOGLE_CLOUD_PROJECT: 'local-project',
  DEAD_LETTER_TOPIC: 'dead-letters',
  DOCUMENTS_DIR: join(examplesDir, 'documents'),
  PURCHASES_FILE: join(examplesDir, 'purchases.json'),
  // The emulator signs no push tokens.
  PUSH_AUTH: 'disabled',
  // A laptop: /ops without a token (refused off the emulator).
  OPS_AUTH: 'disabled',
  // The ledger as deployed, on the Firestore emulator (with --transport both, pull and push share it).
  LEDGER: 'firestore',
} as const;

/** How `dev` takes events from the input topic (`--transport`). */
export const DEV_TRANSPORTS = ['push', 'pull', 'both'] as const;
export type DevTransport = (typeof DEV_TRANSPORTS)[number];

/** `--transport`: push by default, as on Cloud Run; `both` delivers every event twice (the ledger's case). */
export function devTransport(value: string | undefined): DevTransport {
  if (value === undefined) return 'push';
  const known = DEV_TRANSPORTS.find((t) => t === value);
  if (!known) throw new OrchestratorError('USAGE', `--transport: must be push, pull or both, got "${value}"`);
  return known;
}

/** Starts an emulator on its usual port when free; its failure is EMULATOR_UNAVAILABLE. */
async function startOnUsualPort(
  start: (options: StartEmulatorOptions) => Promise<Emulator>,
  port: number,
): Promise<Emulator> {
  try {
    return await start({ port: (await portIsFree(port)) ? port : undefined });
  } catch (err) {
    throw unavailable(err);
  }
}

function unavailable(err: unknown): OrchestratorError {
  return new OrchestratorError('EMULATOR_UNAVAILABLE', messageOf(err), { cause: err, hint: hintOf(err) });
}

/** The environment dev serves with: its defaults, the user's variables over them, the emulators. */
function devEnv(hosts: { pubsub: string | undefined; firestore: string | undefined }): NodeJS.ProcessEnv {
  return {
    ...DEV_DEFAULTS,
    ...process.env,
    PUBSUB_EMULATOR_HOST: process.env['PUBSUB_EMULATOR_HOST'] ?? hosts.pubsub,
    FIRESTORE_EMULATOR_HOST: process.env['FIRESTORE_EMULATOR_HOST'] ?? hosts.firestore,
  };
}

/**
 * `dev` (what `npm start` runs): the whole service on a laptop. First, before anything starts, it
 * checks the configuration, that `PORT` is free and that the emulators it needs are installed.
 * Uses the emulator at `PUBSUB_EMULATOR_HOST`, or starts the installed one on a free port (stopped
 * on exit); the same for the Firestore emulator of the ledger (`FIRESTORE_EMULATOR_HOST`); creates
 * the topics, the input topic's subscription for `--transport` (push to its own `/pubsub/push` by
 * default; pull; or both) and one on the completed and the dead-letter topics that keeps their
 * messages, then serves with the example documents and purchases and the built processors until
 * Ctrl-C.
 */
export async function devCommand(args: string[]): Promise<number> {
  const { values } = commandArgs('dev', args, {
    options: { transport: { type: 'string' } },
    positionals: { min: 0, max: 0, what: '' },
  });
  const transport = devTransport(values.transport);
  const givenHost = process.env['PUBSUB_EMULATOR_HOST'];
  // The configuration as it will be (the emulators' addresses aside), and its port, checked first.
  const planned = loadConfig(devEnv({ pubsub: `${DEV_HOST}:${DEV_EMULATOR_PORT}`, firestore: undefined }));
  await assertPortFree(planned.port, DEV_HOST);
  // A given emulator that does not answer is said at once, before anything is started.
  if (givenHost && /^[^\s:/]+:\d{1,5}$/.test(givenHost)) await checkEmulator(givenHost);
  const needsPubSub = !givenHost;
  const needsFirestore = planned.ledger.kind === 'firestore' && !process.env['FIRESTORE_EMULATOR_HOST'];
  try {
    if (needsPubSub) checkSdkEmulator(PUBSUB_EMULATOR);
    if (needsFirestore) checkSdkEmulator(FIRESTORE_EMULATOR);
  } catch (err) {
    throw unavailable(err);
  }
  if (needsPubSub || needsFirestore) {
    const names = [needsPubSub && 'Pub/Sub', needsFirestore && 'Firestore'].filter(Boolean).join(' and ');
    process.stdout.write(`Starting the ${names} emulator${needsPubSub && needsFirestore ? 's' : ''}…\n`);
  }
  // Their usual ports when free, so that replay finds the Pub/Sub one without being told.
  const [pubsubStart, firestoreStart] = await Promise.allSettled([
    needsPubSub ? startOnUsualPort(startEmulator, DEV_EMULATOR_PORT) : undefined,
    needsFirestore ? startOnUsualPort(startFirestoreEmulator, DEV_FIRESTORE_PORT) : undefined,
  ]);
  const emulator = pubsubStart.status === 'fulfilled' ? pubsubStart.value : undefined;
  const firestore = firestoreStart.status === 'fulfilled' ? firestoreStart.value : undefined;
  try {
    if (pubsubStart.status === 'rejected') throw pubsubStart.reason;
    if (firestoreStart.status === 'rejected') throw firestoreStart.reason;
    return await serveDev(transport, devEnv({ pubsub: emulator?.host, firestore: firestore?.host }), {
      pubsub: emulator !== undefined,
      firestore: firestore !== undefined,
    });
  } finally {
    await Promise.all([emulator?.stop(), firestore?.stop()]);
  }
}

/** The topics and subscriptions, the service, the banner; resolves with the exit code once stopped. */
async function serveDev(
  transport: DevTransport,
  env: NodeJS.ProcessEnv,
  startedByDev: { pubsub: boolean; firestore: boolean },
): Promise<number> {
  const inputTopic = env['UNDERWRITING_TOPIC'] || DEFAULTS.UNDERWRITING_TOPIC;
  const pullSubscription = env['UNDERWRITING_SUBSCRIPTION'] || `${inputTopic}-pull`;
  const pulls = transport !== 'push';
  // An empty UNDERWRITING_SUBSCRIPTION is unset: serve pulls only when the transport says so.
  const config = loadConfig({ ...env, UNDERWRITING_SUBSCRIPTION: pulls ? pullSubscription : '' });
  const log = createLogger(config.logLevel);
  const pubsub = createPubSub(config.pubsub);
  const { underwritingTopic, completedTopic, deadLetterTopic } = config.pubsub;
  const pushSubscription = `${underwritingTopic}-push`;
  // A topic without a subscription drops what is published to it: these keep what comes out.
  const kept = [completedTopic, deadLetterTopic].filter((t): t is string => t !== undefined);
  try {
    for (const topic of [underwritingTopic, ...kept]) await ensureTopic(pubsub, topic);
    for (const topic of kept) await ensureSubscription(pubsub, topic, `${topic}-sub`);
    if (pulls) await ensureSubscription(pubsub, underwritingTopic, pullSubscription);
    // A push subscription left by an earlier dev would deliver every event a second time.
    else await deleteSubscription(pubsub, pushSubscription);

    const service = await startService(config, log, DEV_HOST);
    const url = `http://${DEV_HOST}:${service.port}`;
    const endpoint = `${url}${PUSH_PATH}`;
    if (transport !== 'pull') {
      await ensureSubscription(pubsub, underwritingTopic, pushSubscription, {
        pushConfig: { pushEndpoint: endpoint },
      });
    }
    const input = {
      push: `pushed to ${endpoint} by ${pushSubscription}, so each event is delivered once`,
      pull: `pulled from ${pullSubscription}, so each event is delivered once`,
      both: `pulled from ${pullSubscription} and pushed to ${endpoint} by ${pushSubscription},`,
    }[transport];
    process.stdout.write(
      [
        '',
        `processor-orchestrator dev: serving on ${url} (Ctrl-C stops it)`,
        `  Pub/Sub emulator  ${config.pubsub.emulatorHost}, project ${config.pubsub.projectId}${startedByDev.pubsub ? ' (started by dev)' : ''}`,
        `  input topic       ${underwritingTopic} (--transport ${transport}): ${input}`,
        ...(transport === 'both'
          ? [
              config.ledger.kind === 'none'
                ? '                    so each event runs through both paths and is completed twice'
                : '                    so each event arrives twice, and the ledger runs and publishes it once',
            ]
          : []),
        `  results           ${completedTopic}, kept in ${completedTopic}-sub (gcloud: see docs/running.md)`,
        `  poison messages   ${deadLetterTopic ? `${deadLetterTopic}, kept in ${deadLetterTopic}-sub` : 'logged (no DEAD_LETTER_TOPIC)'}`,
        `  ledger            ${ledgerWhere(config.ledger)}${startedByDev.firestore ? ' (started by dev)' : ''}`,
        `  documents         ${config.documentsDir ?? config.documentsUrl}; processors ${describeSources(processorSources(config))}`,
        `  operations        ${url}/ops (OPS_AUTH=${config.ops.auth}); ` +
          `npx processor-orchestrator status UNDERWRITING_ID --url ${url}`,
        '',
        'In another terminal, replay the examples and compare them with the expected results:',
        `  ${replayEnv(config.pubsub.emulatorHost, config.pubsub.projectId)}npx processor-orchestrator replay examples/events --expect examples/expected`,
        '',
      ].join('\n'),
    );
    return await untilSignalled(service, log);
  } finally {
    await pubsub.close();
  }
}

// The variables replay needs to find this emulator and project, unless they are its defaults.
function replayEnv(host: string | undefined, project: string | undefined): string {
  const isDefault =
    host === `127.0.0.1:${DEV_EMULATOR_PORT}` && project === DEV_DEFAULTS.GOOGLE_CLOUD_PROJECT;
  return isDefault ? '' : `PUBSUB_EMULATOR_HOST=${host ?? ''} GOOGLE_CLOUD_PROJECT=${project ?? ''} `;
}
