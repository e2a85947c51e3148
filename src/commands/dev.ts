import { createServer } from 'node:net';
import { join } from 'node:path';

import { DEFAULTS, loadConfig } from '../config.js';
import { OrchestratorError, messageOf } from '../errors.js';
import { createLogger } from '../logging.js';
import { examplesDir } from '../paths.js';
import { startEmulator, type Emulator } from '../pubsub/emulator.js';
import { checkEmulator } from '../pubsub/probe.js';
import { ensureSubscription, ensureTopic } from '../pubsub/resources.js';
import { startService } from '../service.js';
import { createPubSub } from '../transport/pubsub.js';
import { PUSH_PATH } from '../transport/push.js';
import { commandArgs } from './args.js';
import { untilSignalled } from './serve.js';

/** Where dev starts the emulator when the port is free, and where replay looks by default. */
export const DEV_EMULATOR_PORT = 8085;

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
} as const;

/**
 * `dev` (what `npm start` runs): the whole service on a laptop. Uses the emulator at
 * `PUBSUB_EMULATOR_HOST`, or starts the installed one on a free port (stopped on exit); creates
 * the topics and both subscriptions (pull, and push to its own `/pubsub/push`), then serves with
 * the example documents and purchases and the built processors until Ctrl-C.
 */
export async function devCommand(args: string[]): Promise<number> {
  commandArgs('dev', args, { options: {}, positionals: { min: 0, max: 0, what: '' } });
  let emulator: Emulator | undefined;
  if (!process.env['PUBSUB_EMULATOR_HOST']) {
    process.stdout.write('Starting the Pub/Sub emulator…\n');
    try {
      // Its usual port when free, so that replay finds it without being told.
      emulator = await startEmulator({
        port: (await portIsFree(DEV_EMULATOR_PORT)) ? DEV_EMULATOR_PORT : undefined,
      });
    } catch (err) {
      throw new OrchestratorError('EMULATOR_UNAVAILABLE', messageOf(err), { cause: err });
    }
  }
  try {
    const env: NodeJS.ProcessEnv = {
      ...DEV_DEFAULTS,
      ...process.env,
      PUBSUB_EMULATOR_HOST: process.env['PUBSUB_EMULATOR_HOST'] ?? emulator?.host,
    };
    const inputTopic = env['UNDERWRITING_TOPIC'] || DEFAULTS.UNDERWRITING_TOPIC;
    const pullSubscription = env['UNDERWRITING_SUBSCRIPTION'] || `${inputTopic}-pull`;
    const config = loadConfig({ ...env, UNDERWRITING_SUBSCRIPTION: pullSubscription });
    if (!emulator && config.pubsub.emulatorHost) await checkEmulator(config.pubsub.emulatorHost);
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
          '                    so each event runs through both paths and is completed twice',
          `  results           ${completedTopic}; poison messages: ${deadLetterTopic ?? 'logged'}`,
          `  documents         ${config.documentsDir ?? config.documentsUrl}; processors ${config.processorsDir}`,
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
    await emulator?.stop();
  }
}

// The variables replay needs to find this emulator and project, unless they are its defaults.
function replayEnv(host: string | undefined, project: string | undefined): string {
  const isDefault =
    host === `127.0.0.1:${DEV_EMULATOR_PORT}` && project === DEV_DEFAULTS.GOOGLE_CLOUD_PROJECT;
  return isDefault ? '' : `PUBSUB_EMULATOR_HOST=${host ?? ''} GOOGLE_CLOUD_PROJECT=${project ?? ''} `;
}
