import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import type { PubSub } from '@google-cloud/pubsub';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';

import { examplesDir } from '../../src/paths.js';
import { freePort } from '../helpers/cli.js';
import { fixtureProcessorsDir, repoRoot } from '../helpers/fixtures.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';
import { killServe, startServe } from '../helpers/serve.js';

const host = inject('pubsubEmulatorHost');
const built = (path: string) => pathToFileURL(join(repoRoot, 'dist', 'src', path)).href;

// The built service in a process of its own (this one has loaded the client library already):
// it says which client libraries its main thread had loaded when startService resolved (when
// /readyz first answers 200), then again once the publisher has connected.
const CHILD = `
import { createRequire } from 'node:module';
import { loadConfig } from '${built('config.js')}';
import { createLogger } from '${built('logging.js')}';
import { startService } from '${built('service.js')}';
const require = createRequire(import.meta.url);
const loaded = (name) => Object.keys(require.cache).some((path) => path.includes('/node_modules/' + name + '/'));
const libraries = () => ({ pubsub: loaded('@google-cloud/pubsub'), firestore: loaded('@google-cloud/firestore') });
const say = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const service = await startService(loadConfig(), createLogger('warn'), '127.0.0.1');
say({ ready: true, port: service.port, ...libraries() });
for (;;) {
  const answer = await (await fetch('http://127.0.0.1:' + service.port + '/readyz')).json();
  if (answer.status !== 'ready') { say({ notReady: answer }); break; }
  if (!answer.warming) { say({ connected: true, ...libraries() }); break; }
  await new Promise((resolve) => setTimeout(resolve, 20));
}
process.once('SIGTERM', () => void service.stop('test over').then(() => process.exit(0)));
`;

interface ChildLine {
  ready?: boolean;
  port?: number;
  connected?: boolean;
  notReady?: unknown;
  pubsub?: boolean;
  firestore?: boolean;
}

let pubsub: PubSub;
let completedTopic: string;
let completed: Collector;
let stopChild: (() => Promise<void>) | undefined;

beforeEach(async () => {
  pubsub = emulatorPubSub(host);
  completedTopic = uniqueName('completed');
  const { subscription } = await createTopicWithSubscription(pubsub, completedTopic, `${completedTopic}-sub`);
  completed = collectMessages(subscription);
});

afterEach(async () => {
  await stopChild?.();
  stopChild = undefined;
  await completed.close();
  await pubsub.close();
});

function startChild() {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: repoRoot,
    env: {
      PATH: process.env['PATH'] ?? '',
      PORT: '0',
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
      PUBSUB_EMULATOR_HOST: host,
      COMPLETED_TOPIC: completedTopic,
      PROCESSORS_DIR: fixtureProcessorsDir,
      DOCUMENTS_DIR: `${examplesDir}/documents`,
      PROCESSOR_THREADS: '2',
      PUSH_AUTH: 'disabled',
      OPS_AUTH: 'disabled',
      LEDGER: 'memory',
      OTEL_SDK_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  stopChild = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<ChildLine> => {
    const line: IteratorResult<string> = await lines.next();
    if (line.done === true)
      throw new Error(`the service exited (${String(await exited)}) before saying more`);
    return JSON.parse(line.value) as ChildLine;
  };
  /** Stops the process (SIGSTOP) or lets it go on (SIGCONT). */
  const hold = (held: boolean) => child.kill(held ? 'SIGSTOP' : 'SIGCONT');
  return { next, stderr: () => stderr, hold };
}

describe('push-only serve at start-up', () => {
  it('is ready before the Pub/Sub and Firestore client libraries load; a push taken then is published once, answered 204 after', async () => {
    const child = startChild();
    const ready = await child.next();
    expect(ready).toMatchObject({ ready: true, pubsub: false, firestore: false });
    const base = `http://127.0.0.1:${ready.port ?? 0}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const answer = await postPush(
      base,
      pushEnvelope(
        JSON.stringify({
          event: 'underwriting.created',
          data: { underwriting_id: 'uw_early_push', documents: ['doc_001'], purchased_processors: ['fx_ok'] },
        }),
        { messageId: 'early-push-1', deliveryAttempt: 1 },
      ),
    );
    expect(answer.status).toBe(204);
    // Answered only once Pub/Sub had stored it: it is there to receive, and only once.
    const [message] = await completed.waitFor(1, 15_000);
    expect(message?.attributes).toMatchObject({
      source_message_id: 'early-push-1',
      underwriting_id: 'uw_early_push',
    });

    expect(await child.next()).toMatchObject({ connected: true, pubsub: true, firestore: false });
    await sleep(1_000);
    expect(completed.messages).toHaveLength(1);
  }, 60_000);

  it('keeps a burst of connections in the kernel while its main thread is held, dropping none', async () => {
    // Past Node's default listen backlog (511), and within what the kernel allows (somaxconn).
    const burst = 600;
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    expect(somaxconn, 'net.core.somaxconn must allow the burst').toBeGreaterThanOrEqual(burst);
    const child = startChild();
    const ready = await child.next();
    expect(ready).toMatchObject({ ready: true });
    // Held, as a main thread busy for a moment is: only the kernel answers the connections now.
    child.hold(true);
    const sockets: Socket[] = [];
    let connected = 0;
    try {
      for (let i = 0; i < burst; i++) {
        const socket = connect(ready.port ?? 0, '127.0.0.1', () => (connected += 1));
        socket.on('error', () => {});
        sockets.push(socket);
      }
      // A connection past the queue would have its SYN dropped, and stay pending while it is held.
      await vi.waitFor(() => expect(connected).toBe(burst), { timeout: 10_000, interval: 50 });
    } finally {
      child.hold(false);
      for (const socket of sockets) socket.destroy();
    }
    expect((await fetch(`http://127.0.0.1:${ready.port ?? 0}/readyz`)).status).toBe(200);
  }, 60_000);

  it('turns not ready, naming the topic, once the publisher finds the completed topic missing', async () => {
    completedTopic = uniqueName('missing');
    const child = startChild();
    expect(await child.next()).toMatchObject({ ready: true, pubsub: false });
    expect(await child.next()).toMatchObject({
      notReady: {
        status: 'not ready',
        problems: { publisher: `topic projects/${TEST_PROJECT_ID}/topics/${completedTopic} does not exist` },
      },
    });
    expect(child.stderr()).toContain(
      `publisher not ready: topic projects/${TEST_PROJECT_ID}/topics/${completedTopic}`,
    );
  }, 60_000);
});

describe('serve stopped while it starts', () => {
  it('closes what it opened and exits 0 on a SIGTERM before it is ready', async () => {
    // The push signing keys come from a server that takes the connection and never answers:
    // the start-up waits there (up to the fetch's 5 s), the HTTP server already listening.
    const keysAsked: Socket[] = [];
    const keys = createServer((socket) => void keysAsked.push(socket));
    await new Promise<void>((resolve) => keys.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    const serve = startServe({
      PORT: String(port),
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
      PUBSUB_EMULATOR_HOST: host,
      COMPLETED_TOPIC: completedTopic,
      PROCESSORS_DIR: fixtureProcessorsDir,
      DOCUMENTS_DIR: `${examplesDir}/documents`,
      PROCESSOR_THREADS: '2',
      LEDGER: 'memory',
      OPS_AUTH: 'disabled',
      OTEL_SDK_DISABLED: 'true',
      PUSH_AUDIENCE: 'https://example.test/pubsub/push',
      PUSH_SERVICE_ACCOUNT: 'pusher@example.iam.gserviceaccount.com',
      PUSH_JWKS_URL: `http://127.0.0.1:${(keys.address() as { port: number }).port}/certs`,
    });
    try {
      await vi.waitFor(() => expect(keysAsked.length).toBeGreaterThan(0), { timeout: 30_000, interval: 20 });
      const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(readyz.status).toBe(503);
      serve.child.kill('SIGTERM');
      const { code, signal } = await serve.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(serve.logs.find((l) => l.message === 'stopped while starting')).toMatchObject({
        reason: 'received SIGTERM',
      });
      expect(serve.logs.some((l) => l.message === 'serving')).toBe(false);
      expect(serve.logs.filter((l) => l['severity'] === 'ERROR')).toEqual([]);
    } finally {
      await killServe(serve);
      for (const socket of keysAsked) socket.destroy();
      await new Promise<void>((resolve) => keys.close(() => resolve()));
    }
  }, 60_000);
});
