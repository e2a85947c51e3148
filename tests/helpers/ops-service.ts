// The service in-process (or its `serve` process) on the emulators, for the operations tests: a
// running service, JSON calls to its /ops API, the tally of processor runs, and published results.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub } from '@google-cloud/pubsub';

import { loadConfig } from '../../src/config.js';
import {
  ProcessingCompletedSchema,
  type ProcessingCompleted,
} from '../../src/events/processing-completed.js';
import { examplesDir } from '../../src/paths.js';
import { startService, type Service } from '../../src/service.js';
import { uniqueCollection } from './firestore.js';
import { capturingLog, tallyProcessorsDir } from './fixtures.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from './pubsub.js';
import { killServe, startServe, type ServeProcess } from './serve.js';

export const CSRF = { 'x-requested-with': 'test' };

export interface Running {
  service: Service;
  base: string;
  lines: Record<string, unknown>[];
}

/** `serve` in-process, on the emulators, with the tally processors and open /ops (emulator only). */
export async function serveOps(env: Record<string, string>): Promise<Running> {
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PROCESSORS_DIR: tallyProcessorsDir,
    DOCUMENTS_DIR: `${examplesDir}/documents`,
    PROCESSOR_THREADS: '1',
    PORT: '0',
    OPS_AUTH: 'disabled',
    ...env,
  });
  const { log, lines } = capturingLog();
  const service = await startService(config, log, '127.0.0.1');
  return { service, base: `http://127.0.0.1:${service.port}`, lines };
}

/** `serve` as a process on both emulators (see `serveTally`), and what it was given. */
export interface TallyServe {
  pubsub: PubSub;
  serve: ServeProcess;
  /** Where events go in (pulled by `serve`). */
  inTopic: string;
  /** Every processing.completed `serve` publishes. */
  completed: Collector;
  /** The tally processors' run counts (`runCount`). */
  tallyFile: string;
  base: string;
  close(): Promise<void>;
}

/**
 * `serve` as a process on both emulators with the tally processors: pulling from a topic of its
 * own, its results collected from another, the Firestore ledger in a collection of its own, and
 * /ops open (emulator only).
 */
export async function serveTally(hosts: { pubsub: string; firestore: string }): Promise<TallyServe> {
  const pubsub = emulatorPubSub(hosts.pubsub);
  const inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  await createTopicWithSubscription(pubsub, inTopic, `${inTopic}-pull`);
  const { subscription } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  const completed = collectMessages(subscription);
  const tallyFile = join(await mkdtemp(join(tmpdir(), 'ops-tally-')), 'runs.jsonl');
  const serve = startServe({
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PUBSUB_EMULATOR_HOST: hosts.pubsub,
    UNDERWRITING_TOPIC: inTopic,
    UNDERWRITING_SUBSCRIPTION: `${inTopic}-pull`,
    COMPLETED_TOPIC: outTopic,
    PROCESSORS_DIR: tallyProcessorsDir,
    DOCUMENTS_DIR: `${examplesDir}/documents`,
    PROCESSOR_THREADS: '2',
    LEDGER: 'firestore',
    FIRESTORE_EMULATOR_HOST: hosts.firestore,
    LEDGER_COLLECTION: uniqueCollection(),
    OPS_AUTH: 'disabled',
    FX_TALLY_FILE: tallyFile,
  });
  const close = async () => {
    await killServe(serve);
    await completed.close();
    await pubsub.close();
  };
  try {
    return {
      pubsub,
      serve,
      inTopic,
      completed,
      tallyFile,
      base: `http://127.0.0.1:${await serve.port()}`,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 150_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function getJson(base: string, path: string): Promise<Answer> {
  const response = await fetch(`${base}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function postJson(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...CSRF, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Every run the tally processors counted: processor, underwriting, execution id. */
export async function tallied(file: string): Promise<{ processor_id: string; underwriting_id: string }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { processor_id: string; underwriting_id: string });
}

export async function runCount(file: string, processorId: string, underwritingId: string): Promise<number> {
  return (await tallied(file)).filter(
    (r) => r.processor_id === processorId && r.underwriting_id === underwritingId,
  ).length;
}

/** The published results of an underwriting so far, with their attributes. */
export function resultsOf(
  completed: Collector,
  underwritingId: string,
): { id: string; attributes: Record<string, string>; event: ProcessingCompleted }[] {
  return completed.messages
    .map((m) => ({
      id: m.id,
      attributes: m.attributes,
      event: ProcessingCompletedSchema.parse(JSON.parse(m.data)),
    }))
    .filter((m) => m.event.underwriting_id === underwritingId);
}
