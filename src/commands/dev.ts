import { createServer } from 'node:net';
import { join } from 'node:path';

import { DEFAULTS, loadConfig, processorSources } from '../config.js';
import { OrchestratorError, messageOf } from '../errors.js';
import { createLogger } from '../logging.js';
import type { Emulator, StartEmulatorOptions } from '../emulators/launcher.js';
import { startFirestoreEmulator } from '../ledger/emulator.js';
import { examplesDir } from '../paths.js';
import { describeSources } from '../processors/discovery.js';
import { startEmulator } from '../pubsub/emulator.js';
import { checkEmulator } from '../pubsub/probe.js';
import { ensureSubscription, ensureTopic } from '../pubsub/resources.js';
import { ledgerWhere, startService } from '../service.js';
import { createPubSub } from '../transport/pubsub.js';
import { PUSH_PATH } from '../transport/push.js';
import { commandArgs } from './args.js';
import { untilSignalled } from './serve.js';

/** Where dev starts the emulator when the port is free, and where replay looks by default. */
export const DEV_EMULATOR_PORT = 8085;
/** Where dev starts the Firestore emulator when the port is free. */
export const DEV_FIRESTORE_PORT = 8086;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
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
  // The ledger as deployed, on the Firestore emulator: the pull and push paths share it.
  LEDGER: 'firestore',
} as const;

/** Starts an emulator on its usual port when free; its failure is EMULATOR_UNAVAILABLE. */
async function startOnUsualPort(
  start: (options: StartEmulatorOptions) => Promise<Emulator>,
  port: number,
): Promise<Emulator> {
  try {
    return await start({ port: (await portIsFree(port)) ? port : undefined });
  } catch (err) {
    throw new OrchestratorError('EMULATOR_UNAVAILABLE', messageOf(err), { cause: err });
  }
}

/**
 * `dev` (what `npm start` runs): the whole service on a laptop. Uses the emulator at
 * `PUBSUB_EMULATOR_HOST`, or starts the installed one on a free port (stopped on exit); the same
 * for the Firestore emulator of the ledger (`FIRESTORE_EMULATOR_HOST`); creates
 * the topics and both subscriptions (pull, and push to its own `/pubsub/push`), then serves with
 * the example documents and purchases and the built processors until Ctrl-C.
 */
export async function devCommand(args: string[]): Promise<number> {
  commandArgs('dev', args, { options: {}, positionals: { min: 0, max: 0, what: '' } });
  // A given emulator that does not answer is said at once, before anything is started.
  const givenHost = process.env['PUBSUB_EMULATOR_HOST'];
  if (givenHost && /^[^\s:/]+:\d{1,5}$/.test(givenHost)) await checkEmulator(givenHost);
  const needsPubSub = !givenHost;
  const ledger = process.env['LEDGER'] || DEV_DEFAULTS.LEDGER;
  const needsFirestore = ledger === 'firestore' && !process.env['FIRESTORE_EMULATOR_HOST'];
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
    const env: NodeJS.ProcessEnv = {
      ...DEV_DEFAULTS,
      ...process.env,
      PUBSUB_EMULATOR_HOST: process.env['PUBSUB_EMULATOR_HOST'] ?? emulator?.host,
      FIRESTORE_EMULATOR_HOST: process.env['FIRESTORE_EMULATOR_HOST'] ?? firestore?.host,
    };
    const inputTopic = env['UNDERWRITING_TOPIC'] || DEFAULTS.UNDERWRITING_TOPIC;
    const pullSubscription = env['UNDERWRITING_SUBSCRIPTION'] || `${inputTopic}-pull`;
    const config = loadConfig({ ...env, UNDERWRITING_SUBSCRIPTION: pullSubscription });
    const log = createLogger(config.logLevel);

    const pubsub = createPubSub(config.pubsub);
    const { underwritingTopic, completedTopic, deadLetterTopic } = config.pubsub;
    try {
      for (const topic of [underwritingTopic, completedTopic, deadLetterTopic]) {
        if (topic) await ensureTopic(pubsub, topic);
      }
      await ensureSubscription(pubsub, underwritingTopic, pullSubscription);
      // A topic without a subscription drops what is published to it: keep the dead letters.
      if (deadLetterTopic) await ensureSubscription(pubsub, deadLetterTopic, `${deadLetterTopic}-sub`);

      const service = await startService(config, log, '127.0.0.1');
      const endpoint = `http://127.0.0.1:${service.port}${PUSH_PATH}`;
      const pushSubscription = `${underwritingTopic}-push`;
      await ensureSubscription(pubsub, underwritingTopic, pushSubscription, {
        pushConfig: { pushEndpoint: endpoint },
      });
      process.stdout.write(
        [
          '',
          `processor-orchestrator dev: serving on http://127.0.0.1:${service.port} (Ctrl-C stops it)`,
          `  Pub/Sub emulator  ${config.pubsub.emulatorHost}, project ${config.pubsub.projectId}${emulator ? ' (started by dev)' : ''}`,
          `  input topic       ${underwritingTopic}: pulled from ${pullSubscription} and pushed to ${endpoint} by ${pushSubscription},`,
          config.ledger.kind === 'none'
            ? '                    so each event runs through both paths and is completed twice'
            : '                    so each event arrives twice, and the ledger runs and publishes it once',
          `  results           ${completedTopic}; poison messages: ${deadLetterTopic ?? 'logged'}`,
          `  ledger            ${ledgerWhere(config.ledger)}${firestore ? ' (started by dev)' : ''}`,
          `  documents         ${config.documentsDir ?? config.documentsUrl}; processors ${describeSources(processorSources(config))}`,
          `  operations        http://127.0.0.1:${service.port}/ops (OPS_AUTH=${config.ops.auth}); ` +
            `npx processor-orchestrator status UNDERWRITING_ID --url http://127.0.0.1:${service.port}`,
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
  } finally {
    await Promise.all([emulator?.stop(), firestore?.stop()]);
  }
}

// The variables replay needs to find this emulator and project, unless they are its defaults.
function replayEnv(host: string | undefined, project: string | undefined): string {
  const isDefault =
    host === `127.0.0.1:${DEV_EMULATOR_PORT}` && project === DEV_DEFAULTS.GOOGLE_CLOUD_PROJECT;
  return isDefault ? '' : `PUBSUB_EMULATOR_HOST=${host ?? ''} GOOGLE_CLOUD_PROJECT=${project ?? ''} `;
}
