import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { parseArgs } from 'node:util';

import type { Message, PubSub, Subscription, Topic } from '@google-cloud/pubsub';

import { loadConfig } from '../config.js';
import { OrchestratorError, messageOf } from '../errors.js';
import type { ProcessingCompleted } from '../events/processing-completed.js';
import { differences } from '../replay/compare.js';
import { readReplayInputs, type ReplayInput } from '../replay/inputs.js';
import { checkEmulator } from '../pubsub/probe.js';
import { createPubSub } from '../transport/pubsub-client.js';
import { GRPC, grpcCode } from '../transport/pubsub.js';
import { DEV_DEFAULTS, DEV_EMULATOR_PORT } from './dev.js';
import { ReplayOutcomes, type Outcome } from './replay-outcomes.js';
import { formatTable } from './table.js';

const DEFAULT_TIMEOUT_S = 60;

interface ReplayOptions {
  paths: string[];
  timeoutS: number;
  allowProduction: boolean;
  out: string | undefined;
  expect: string | undefined;
}

/** The command line, checked: USAGE names what is wrong. */
function replayOptions(args: string[]): ReplayOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      expect: { type: 'string' },
      timeout: { type: 'string' },
      'allow-production': { type: 'boolean' },
    },
  });
  if (positionals.length === 0) throw new OrchestratorError('USAGE', 'replay takes event files or folders');
  const timeoutS = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
  if (!(timeoutS > 0))
    throw new OrchestratorError('USAGE', `--timeout: ${values.timeout} is not a number of seconds`);
  const allowProduction = values['allow-production'] === true;
  if (!process.env['PUBSUB_EMULATOR_HOST'] && allowProduction && !process.env['GOOGLE_CLOUD_PROJECT']) {
    throw new OrchestratorError(
      'USAGE',
      '--allow-production: set GOOGLE_CLOUD_PROJECT to the project to publish to',
    );
  }
  return { paths: positionals, timeoutS, allowProduction, out: values.out, expect: values.expect };
}

/** Without PUBSUB_EMULATOR_HOST, the emulator `dev` starts, unless told to publish for real. */
function replayConfig(allowProduction: boolean) {
  return loadConfig(
    allowProduction
      ? process.env
      : {
          GOOGLE_CLOUD_PROJECT: DEV_DEFAULTS.GOOGLE_CLOUD_PROJECT,
          DEAD_LETTER_TOPIC: DEV_DEFAULTS.DEAD_LETTER_TOPIC,
          ...process.env,
          PUBSUB_EMULATOR_HOST: process.env['PUBSUB_EMULATOR_HOST'] ?? `127.0.0.1:${DEV_EMULATOR_PORT}`,
        },
  );
}

/**
 * `replay FILE|DIR...`: publishes each event (or captured push envelope) to the input topic,
 * waits for its `processing.completed` (matched by `source_message_id`), and prints a summary.
 * `--out DIR` writes each result; `--expect DIR` compares each with `DIR/{name}.json`, volatile
 * fields aside, and fails on any difference. Only the emulator, unless `--allow-production`.
 * Exits 0 when every event completed (as expected), 1 otherwise.
 */
export async function replayCommand(args: string[]): Promise<number> {
  const options = replayOptions(args);
  const config = replayConfig(options.allowProduction);
  const inputs = await readReplayInputs(options.paths);
  if (config.pubsub.emulatorHost) await checkEmulator(config.pubsub.emulatorHost);
  const pubsub = createPubSub(config.pubsub);
  const listeners: Subscription[] = [];
  // Ctrl-C (or a kill) removes the temporary subscriptions before exiting.
  const interrupted = (signal: NodeJS.Signals) => {
    void removeListeners(listeners).finally(() => process.exit(128 + constants.signals[signal]));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const outcomes = new ReplayOutcomes(
      inputs.length,
      process.stderr.isTTY ? (n) => process.stderr.write(`\r${n}/${inputs.length} completed…`) : undefined,
    );
    const heard = await listen(pubsub, config.pubsub, listeners, outcomes);
    await publishAll(pubsub.topic(config.pubsub.underwritingTopic), inputs, outcomes, whereOf(config.pubsub));
    outcomes.progress();
    await outcomes.until(Date.now() + options.timeoutS * 1000);
    if (process.stderr.isTTY) process.stderr.write('\n');
    return await report(outcomes.all(), heard.problems, {
      out: options.out,
      expect: options.expect,
      timeoutS: options.timeoutS,
      watchingDeadLetters: heard.watchingDeadLetters,
    });
  } finally {
    await removeListeners(listeners);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await pubsub.close();
  }
}

type PubSubConfig = ReturnType<typeof replayConfig>['pubsub'];

const whereOf = (config: PubSubConfig) =>
  config.emulatorHost ? `the emulator at ${config.emulatorHost}` : 'Pub/Sub';

/**
 * Listens on the completed topic and, when there is one, the dead-letter topic, through temporary
 * subscriptions (added to `listeners`, which the caller removes), telling `outcomes` what arrives.
 * `problems` collects what the listeners report as they go.
 */
async function listen(
  pubsub: PubSub,
  config: PubSubConfig,
  listeners: Subscription[],
  outcomes: ReplayOutcomes,
): Promise<{ problems: string[]; watchingDeadLetters: boolean }> {
  const subscribe = async (topic: string): Promise<Subscription> => {
    const name = `replay-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const [subscription] = await pubsub.topic(topic).createSubscription(name, TEMPORARY_SUBSCRIPTION);
      listeners.push(subscription);
      return subscription;
    } catch (err) {
      throw new OrchestratorError(
        'REPLAY_FAILED',
        `cannot listen on topic ${topic} of ${whereOf(config)}: ${messageOf(err)}` +
          (config.emulatorHost ? ' (is `npm start` running?)' : ''),
        { cause: err },
      );
    }
  };
  const completed = await subscribe(config.completedTopic);
  // Without a dead-letter topic (a valid setup: poison is logged and acked), poison shows as no result.
  const deadLetters = config.deadLetterTopic
    ? await subscribe(config.deadLetterTopic).catch((err: unknown) => {
        if (grpcCode((err as Error).cause) === GRPC.NOT_FOUND) return undefined;
        throw err;
      })
    : undefined;
  completed.on('message', (m: Message) => {
    m.ack();
    outcomes.arrived(
      m.attributes['source_message_id'],
      (o) => (o.result = JSON.parse(m.data.toString()) as ProcessingCompleted),
    );
  });
  deadLetters?.on('message', (m: Message) => {
    m.ack();
    outcomes.arrived(
      m.attributes['source_message_id'],
      (o) => (o.deadLettered = m.attributes['error_reason'] ?? 'dead-lettered'),
    );
  });
  const problems: string[] = [];
  for (const l of listeners) {
    l.on('error', (err: unknown) => {
      const line = `listening: ${messageOf(err)}`;
      if (!problems.includes(line)) problems.push(line);
    });
  }
  return { problems, watchingDeadLetters: deadLetters !== undefined };
}

/** Publishes every input in turn, telling `outcomes` each message id. */
async function publishAll(
  topic: Topic,
  inputs: ReplayInput[],
  outcomes: ReplayOutcomes,
  where: string,
): Promise<void> {
  for (const input of inputs) {
    const messageId = await topic
      .publishMessage({ data: input.data, attributes: input.attributes })
      .catch((err: unknown) => {
        throw new OrchestratorError(
          'REPLAY_FAILED',
          `publishing ${input.origin} to ${where}: ${messageOf(err)}`,
          {
            cause: err,
          },
        );
      });
    outcomes.published(messageId, input);
  }
}

/**
 * Replay's own subscriptions: they expire after a day unused (Pub/Sub's shortest expiration) and
 * keep messages ten minutes (its shortest retention), so a replay killed before it removes them
 * leaves nothing that lives on or keeps retaining messages.
 */
const TEMPORARY_SUBSCRIPTION = {
  ackDeadlineSeconds: 60,
  expirationPolicy: { ttl: { seconds: 24 * 60 * 60 } },
  messageRetentionDuration: { seconds: 10 * 60 },
} as const;

function removeListeners(listeners: Subscription[]): Promise<unknown> {
  return Promise.allSettled(listeners.splice(0).map((l) => l.close().then(() => l.delete())));
}

/** The summary table, then every problem, all on stdout (progress alone goes to stderr). */
async function report(
  outcomes: Outcome[],
  problems: string[],
  options: {
    out: string | undefined;
    expect: string | undefined;
    timeoutS: number;
    watchingDeadLetters: boolean;
  },
): Promise<number> {
  if (options.out) await mkdir(options.out, { recursive: true });
  const noResult = options.watchingDeadLetters ? 'no result' : 'no result (no dead-letter topic to watch)';
  for (const outcome of outcomes) {
    const { input, result } = outcome;
    if (!result) {
      problems.push(
        outcome.deadLettered
          ? `${input.origin}: dead-lettered: ${outcome.deadLettered}`
          : `${input.origin}: ${noResult}: no processing.completed within ${options.timeoutS} s`,
      );
      continue;
    }
    if (options.out)
      await writeFile(join(options.out, `${input.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    if (options.expect) {
      const file = join(options.expect, `${input.name}.json`);
      const expected = await readFile(file, 'utf8').then(
        (text) => JSON.parse(text) as unknown,
        (err: unknown) => err as Error,
      );
      outcome.diff =
        expected instanceof Error
          ? [`cannot read ${file}: ${expected.message}`]
          : differences(expected, result);
      if (outcome.diff.length > 0) {
        problems.push(
          `${input.origin}: differs from ${file}:\n${outcome.diff.map((d) => `    ${d}`).join('\n')}`,
        );
      }
    }
  }
  const rows = outcomes.map(({ input, result, deadLettered, diff }) => [
    input.name,
    result?.underwriting_id ?? '-',
    result?.overall_status ?? (deadLettered ? 'dead-lettered' : noResult),
    String(result?.summary.completed_count ?? '-'),
    String(result?.summary.failed_count ?? '-'),
    String(result?.summary.timeout_count ?? '-'),
    result ? `${result.summary.total_execution_time.toFixed(3)} s` : '-',
    ...(options.expect ? [diff === undefined ? '-' : diff.length === 0 ? 'same' : 'DIFFERS'] : []),
  ]);
  const header = ['event', 'underwriting', 'status', 'completed', 'failed', 'timeout', 'time'];
  process.stdout.write(formatTable(options.expect ? [...header, 'expected'] : header, rows));
  if (problems.length === 0) {
    process.stdout.write(
      `\n${outcomes.length} replayed${options.expect ? ', every result as expected' : ''}.\n`,
    );
    return 0;
  }
  const failed = outcomes.filter((o) => !o.result || (o.diff !== undefined && o.diff.length > 0)).length;
  process.stdout.write(
    `\n${problems.join('\n')}\n\n${failed} of ${outcomes.length} did not replay as they should (see above).\n`,
  );
  return 1;
}
