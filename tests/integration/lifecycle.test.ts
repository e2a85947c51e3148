// The service's lifecycle on real resources: real pool threads, a real HTTP server on loopback,
// the memory ledger, a pull subscription on the Pub/Sub emulator. Each start-up step is made to
// fail in turn (through the lifecycle: the failure comes right after a step has opened its
// resource), and what every step before it opened must be closed, the last opened first.
import { readdirSync } from 'node:fs';

import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';

import { loadConfig, type Config } from '../../src/config.js';
import { createLifecycle, StoppedWhileStarting, type Lifecycle } from '../../src/lifecycle.js';
import { examplesDir } from '../../src/paths.js';
import { assertPortFree } from '../../src/port.js';
import { startService } from '../../src/service.js';
import { freePort, withPortTaken } from '../helpers/cli.js';
import { capturingLog, fixtureProcessorsDir } from '../helpers/fixtures.js';
import {
  TEST_PROJECT_ID,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
} from '../helpers/pubsub.js';

const host = inject('pubsubEmulatorHost');

/** What a pulling service opens, in order (the success case below checks it). */
const STEPS = [
  'telemetry',
  'runtime',
  'Pub/Sub client',
  'ledger',
  'publisher',
  'push auth',
  'ops auth',
  'HTTP server',
  'admission',
  'bulk re-run carrier',
  'pull subscription',
  'intake',
];
/** A stop: the intake drains and closes pulling, admission and the pool first, then the rest in reverse. */
const STOP_ORDER = [
  'intake',
  'pull subscription',
  'admission',
  'runtime',
  'bulk re-run carrier',
  'HTTP server',
  'ops auth',
  'push auth',
  'publisher',
  'ledger',
  'Pub/Sub client',
  'telemetry',
];

class Injected extends Error {}

/**
 * A real lifecycle that records what is opened and closed, and fails the start-up right after
 * `failAfter` is opened (or calls `then` there instead).
 */
function watched(
  log: Parameters<typeof createLifecycle>[0],
  failAfter?: string,
  options: { then?: () => void; signal?: AbortSignal } = {},
) {
  const life = createLifecycle(log, options.signal);
  const opened: string[] = [];
  const closed: string[] = [];
  const lifecycle: Lifecycle = {
    ...life,
    add(name, close) {
      opened.push(name);
      const closeOnce = life.add(name, () => {
        closed.push(name);
        return close();
      });
      if (name === failAfter) {
        if (options.then) options.then();
        else throw new Injected(`failed after ${name}`);
      }
      return closeOnce;
    },
  };
  return { lifecycle, opened, closed };
}

// The OS threads of this process: the pool's worker threads among them.
const threadsNow = () => readdirSync('/proc/self/task').length;

/** Whether `port` can be listened on (nothing holds it). */
const portFree = (port: number): Promise<boolean> =>
  assertPortFree(port, '127.0.0.1').then(
    () => true,
    () => false,
  );

let pubsub: PubSub;
let env: Record<string, string>;
let baseline: number;

function configWith(over: Record<string, string> = {}): Config {
  return loadConfig({ ...env, ...over });
}

/** Everything it opened is closed: the port is free and the pool's threads have ended. */
async function expectNothingLeft(port: number): Promise<void> {
  expect(await portFree(port)).toBe(true);
  await vi.waitFor(() => expect(threadsNow()).toBe(baseline), { timeout: 10_000, interval: 50 });
}

beforeAll(async () => {
  pubsub = emulatorPubSub(host);
  const inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  await createTopicWithSubscription(pubsub, inTopic, `${inTopic}-sub`);
  await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  env = {
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PUBSUB_EMULATOR_HOST: host,
    UNDERWRITING_SUBSCRIPTION: `${inTopic}-sub`,
    COMPLETED_TOPIC: outTopic,
    PROCESSORS_DIR: fixtureProcessorsDir,
    DOCUMENTS_DIR: `${examplesDir}/documents`,
    PROCESSOR_THREADS: '2',
    LEDGER: 'memory',
    PUSH_AUTH: 'disabled',
    OPS_AUTH: 'disabled',
    OTEL_SDK_DISABLED: 'true',
  };
  // One start and stop first: what a process starts once and keeps (libuv's thread pool, the
  // client libraries) is then part of the baseline, and the pool's threads are not.
  const { log } = capturingLog();
  const service = await startService(configWith({ PORT: '0' }), log, '127.0.0.1');
  await service.stop('warming the process');
  await vi.waitFor(() => {
    const now = threadsNow();
    baseline = now;
    expect(now).toBeLessThan(20);
  });
}, 60_000);

afterAll(async () => {
  await pubsub.close();
});

describe('the service lifecycle', () => {
  it('opens its parts in order, and a stop closes them the intake first, the rest the last opened first', async () => {
    const port = await freePort();
    const { log, lines } = capturingLog();
    const { lifecycle, opened, closed } = watched(log);
    const service = await startService(configWith({ PORT: String(port) }), log, '127.0.0.1', { lifecycle });
    expect(opened).toEqual(STEPS);
    expect(threadsNow()).toBeGreaterThanOrEqual(baseline + 2);
    await service.stop('test over');
    expect(await service.stopped).toBe(0);
    expect(closed).toEqual(STOP_ORDER);
    expect(lines.find((l) => l['message'] === 'stopped')).toMatchObject({ abandoned: 0 });
    await expectNothingLeft(port);
  }, 30_000);

  it.each(STEPS.slice(0, -1).map((step, i) => [step, i] as const))(
    'a start-up that fails right after it opens %s closes that and everything before it, the last first',
    async (step, i) => {
      const port = await freePort();
      const { log } = capturingLog();
      const { lifecycle, opened, closed } = watched(log, step);
      await expect(
        startService(configWith({ PORT: String(port) }), log, '127.0.0.1', { lifecycle }),
      ).rejects.toBeInstanceOf(Injected);
      expect(opened).toEqual(STEPS.slice(0, i + 1));
      expect(closed).toEqual([...opened].reverse());
      await expectNothingLeft(port);
    },
    30_000,
  );

  it('a start-up that fails once the intake is open closes as a stop does', async () => {
    const port = await freePort();
    const { log } = capturingLog();
    const { lifecycle, closed } = watched(log, 'intake');
    await expect(
      startService(configWith({ PORT: String(port) }), log, '127.0.0.1', { lifecycle }),
    ).rejects.toBeInstanceOf(Injected);
    expect(closed).toEqual(STOP_ORDER);
    await expectNothingLeft(port);
  }, 30_000);

  it('a port in use (a real listen failure) closes the ledger, the clients, the pool and telemetry', async () => {
    await withPortTaken('127.0.0.1', async (port) => {
      const { log } = capturingLog();
      const { lifecycle, opened, closed } = watched(log);
      await expect(
        startService(configWith({ PORT: String(port) }), log, '127.0.0.1', { lifecycle }),
      ).rejects.toMatchObject({ code: 'PORT_IN_USE' });
      expect(opened).toEqual(STEPS.slice(0, STEPS.indexOf('HTTP server')));
      expect(closed).toEqual([...opened].reverse());
      await vi.waitFor(() => expect(threadsNow()).toBe(baseline), { timeout: 10_000, interval: 50 });
    });
  }, 30_000);

  it('a runtime that fails (no such processors folder) closes the server that listened meanwhile', async () => {
    const port = await freePort();
    const { log } = capturingLog();
    const { lifecycle, opened, closed } = watched(log);
    await expect(
      startService(configWith({ PORT: String(port), PROCESSORS_DIR: '/no/such/dir' }), log, '127.0.0.1', {
        lifecycle,
      }),
    ).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^PROCESSORS_DIR: /) as string,
    });
    expect(opened).toEqual(STEPS.slice(0, STEPS.indexOf('HTTP server') + 1));
    expect(closed).toEqual([...opened].reverse());
    await expectNothingLeft(port);
  }, 30_000);

  it('a stop asked for while it starts closes what was opened and goes no further', async () => {
    const port = await freePort();
    const { log, lines } = capturingLog();
    const starting = new AbortController();
    // A SIGTERM once the server listens, while the pool may still be warming up.
    const { lifecycle, opened, closed } = watched(log, 'HTTP server', {
      then: () => starting.abort('received SIGTERM'),
      signal: starting.signal,
    });
    await expect(
      startService(configWith({ PORT: String(port) }), log, '127.0.0.1', { lifecycle }),
    ).rejects.toBeInstanceOf(StoppedWhileStarting);
    expect(opened).toEqual(STEPS.slice(0, STEPS.indexOf('HTTP server') + 1));
    expect(closed).toEqual([...opened].reverse());
    expect(lines.find((l) => l['message'] === 'stopped while starting')).toMatchObject({
      reason: 'received SIGTERM',
    });
    await expectNothingLeft(port);
  }, 30_000);
});
