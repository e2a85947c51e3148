import { availableParallelism } from 'node:os';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub } from '@google-cloud/pubsub';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';

import {
  ProcessingCompletedSchema,
  type ProcessingCompleted,
} from '../../src/events/processing-completed.js';
import { createMemoryCgroup, type MemoryCgroup } from '../helpers/cgroup.js';
import { cli } from '../helpers/cli.js';
import { admissionProcessorsDir, repoRoot } from '../helpers/fixtures.js';
import { postPush, pushEnvelope } from '../helpers/push.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';
import { killServe, startServe, type ServeProcess } from '../helpers/serve.js';
import { maxOverlap } from '../helpers/intervals.js';

const host = inject('pubsubEmulatorHost');
const firstEventProcessorsDir = join(repoRoot, 'tests', 'fixtures', 'first-event-processors');
const memoryProcessorsDir = join(repoRoot, 'tests', 'fixtures', 'memory-processors');

let pubsub: PubSub;
let completed: Collector;
let env: Record<string, string>;
let inTopic: string;
const serves: ServeProcess[] = [];
const cgroups: MemoryCgroup[] = [];

const eventData = (id: string, purchased: string[], documents = ['doc_001']) =>
  JSON.stringify({
    event: 'underwriting.created',
    data: { underwriting_id: id, documents, purchased_processors: purchased },
  });

/** The underwriting ids of what was published, one entry per message. */
const published = () =>
  completed.messages.map((m) => (JSON.parse(m.data) as ProcessingCompleted).underwriting_id);

beforeEach(async () => {
  pubsub = emulatorPubSub(host);
  inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  await createTopicWithSubscription(pubsub, inTopic, `${inTopic}-sub`, { ackDeadlineSeconds: 10 });
  const { subscription } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  completed = collectMessages(subscription);
  env = {
    GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
    PUBSUB_EMULATOR_HOST: host,
    COMPLETED_TOPIC: outTopic,
    DOCUMENTS_DIR: join(repoRoot, 'examples', 'documents'),
    PUSH_AUTH: 'disabled',
    OPS_AUTH: 'disabled',
    LOG_LEVEL: 'info',
  };
});

afterEach(async () => {
  await Promise.all(serves.splice(0).map(killServe));
  await Promise.all(cgroups.splice(0).map((c) => c.remove()));
  await completed.close();
  await pubsub.close();
});

function serve(more: Record<string, string>): ServeProcess {
  const started = startServe({ ...env, ...more });
  serves.push(started);
  return started;
}

describe('admission, on the emulator', () => {
  it('answers a push at once with 429 when the instance is full; delivered again, the event completes once', async () => {
    // fx_one_at_a_time runs one at a time for 3 s: once a second event's run waits for it, the
    // instance is full (its runs could not start soon).
    const worker = serve({ PROCESSORS_DIR: admissionProcessorsDir, FX_ONE_MS: '3000' });
    const base = `http://127.0.0.1:${await worker.port()}`;
    const push = (id: string) =>
      postPush(base, pushEnvelope(eventData(id, ['fx_one_at_a_time']), { messageId: `m-${id}` }));
    const first = push('uw_first');
    await worker.waitForLog((l) => l.message === 'fx_one_at_a_time started');
    const second = push('uw_second');
    // Offered until one is refused (the second must be waiting for the limit first); a refusal is
    // answered at once, while the first event still runs, not after the work.
    let refused: { id: string; response: Response; tookMs: number } | undefined;
    const accepted: Promise<Response>[] = [];
    for (let i = 0; !refused && i < 10; i++) {
      const id = `uw_offered_${i}`;
      const sent = performance.now();
      const answer = push(id);
      const quick = await Promise.race([answer, sleep(500).then(() => undefined)]);
      if (quick?.status === 429) refused = { id, response: quick, tookMs: performance.now() - sent };
      else accepted.push(answer);
    }
    expect(refused, 'no push was refused').toBeDefined();
    if (!refused) return;
    expect(refused.tookMs).toBeLessThan(500);
    expect(refused.response.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.response.json()).toEqual({
      error: 'instance full (concurrency); Pub/Sub will deliver it again',
    });
    // The line is written as the 429 is sent; it may reach this process's pipe after the answer.
    expect(await worker.waitForLog((l) => l.message === 'instance full: refusing new events')).toMatchObject({
      reason: 'concurrency',
    });
    expect((await first).status).toBe(204);
    expect((await second).status).toBe(204);
    for (const answer of await Promise.all(accepted)) expect(answer.status).toBe(204);
    // Pub/Sub delivers the refused event again: it runs as if it had been taken at once.
    const again = await push(refused.id);
    expect(again.status).toBe(204);
    await completed.waitFor(accepted.length + 3, 15_000);
    await sleep(1_000);
    const ids = published();
    expect(ids.filter((id) => id === refused?.id)).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
  }, 60_000);

  it('stops pulling at the memory high-water mark, starts again below the low-water mark, and is never killed', async () => {
    // 1 GiB for the instance; each event is accounted about 100 MB for its 20 MB of documents, and
    // its run holds 40 MB of its own besides them, so that resident memory holds all of the
    // accounts: the share they are counted at stays 1, and what stops intake is what is held.
    const cgroup = await createMemoryCgroup(uniqueName('po-admission'), 2 ** 30);
    cgroups.push(cgroup);
    const documentsDir = await mkdtemp(join(tmpdir(), 'big-documents-'));
    const content = 'x'.repeat(20 * 2 ** 20);
    await writeFile(
      join(documentsDir, 'doc_big.json'),
      JSON.stringify({ document_id: 'doc_big', document_type: 'bank_statement', metadata: {}, content }),
    );
    const gate = join(documentsDir, 'gate');
    const worker = serve({
      PROCESSORS_DIR: memoryProcessorsDir,
      DOCUMENTS_DIR: documentsDir,
      FX_GATE_FILE: gate,
      FX_HOLD_BYTES: String(40 * 2 ** 20),
      UNDERWRITING_SUBSCRIPTION: `${inTopic}-sub`,
    });
    await cgroup.add(worker.child.pid ?? 0);
    await worker.port();
    const ids = Array.from({ length: 14 }, (_, i) => `uw_big_${i}`);
    for (const id of ids) {
      await pubsub
        .topic(inTopic)
        .publishMessage({ data: Buffer.from(eventData(id, ['fx_hold'], ['doc_big'])) });
    }
    // A loaded machine may stop intake for the event loop's delay too; memory is what this is about.
    const stopped = await worker.waitForLog(
      (l) => l.message === 'intake stopped: the instance is full' && l['reason'] === 'memory',
      90_000,
    );
    expect(stopped).toMatchObject({ limit_mb: 1024 });
    const startedRuns = () => worker.logs.filter((l) => l.message === 'fx_hold started').length;
    // Every event taken before the stop starts its run (a pull already under way adds its own)...
    await vi.waitFor(() => expect(startedRuns()).toBeGreaterThanOrEqual(Number(stopped['events'])), {
      timeout: 60_000,
      interval: 100,
    });
    let held = startedRuns();
    for (let quiet = 0; quiet < 2_000; quiet += 250) {
      await sleep(250);
      if (startedRuns() !== held) [held, quiet] = [startedRuns(), 0];
    }
    // ...and then, held, the events keep intake stopped: no more are taken.
    await sleep(1_500);
    expect(startedRuns()).toBe(held);
    expect(held).toBeGreaterThan(2);
    expect(held).toBeLessThan(ids.length);
    // Let them finish: memory falls, intake starts again, and every event completes once.
    await writeFile(gate, '');
    await worker.waitForLog((l) => l.message === 'intake resumed' && l['reason'] === 'memory', 60_000);
    await completed.waitFor(ids.length, 90_000);
    expect(published().sort()).toEqual([...ids].sort());
    for (const message of completed.messages) {
      expect(ProcessingCompletedSchema.parse(JSON.parse(message.data)).overall_status).toBe('success');
    }
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect(await cgroup.oomKills()).toBe(0);
    expect(await cgroup.peakBytes()).toBeLessThan(0.85 * 2 ** 30);
  }, 180_000);

  it("runs a new instance's first event's waiting processors at once, while its computing runs keep to the cores", async () => {
    const eventFile = join(await mkdtemp(join(tmpdir(), 'first-event-')), 'event.json');
    // Waiting and computing processors interleaved, in one event, none of them known yet.
    const purchased = [1, 2, 3, 4, 5, 6].flatMap((i) => [
      `fx_wait_${i}`,
      ...(i <= 3 ? [`fx_compute_${i}`] : []),
    ]);
    await writeFile(eventFile, eventData('uw_first_event', purchased));
    const { code, stdout, stderr } = await cli(['run', eventFile], {
      ...env,
      PROCESSORS_DIR: firstEventProcessorsDir,
      FX_WAIT_MS: '5000',
      FX_COMPUTE_ITERATIONS: '20000000',
      LOG_LEVEL: 'warn',
    });
    expect(code, stderr).toBe(0);
    const result = ProcessingCompletedSchema.parse(JSON.parse(stdout));
    expect(result.overall_status).toBe('success');
    const intervals = (prefix: string) =>
      result.completed_processors
        .filter((p) => p.processor_id.startsWith(prefix))
        .map((p) => p.factors as { started: number; ended: number });
    const waiting = intervals('fx_wait_');
    const computing = intervals('fx_compute_');
    expect(waiting).toHaveLength(6);
    expect(computing).toHaveLength(3);
    // Every waiting run started before the first one ended: all at once.
    expect(maxOverlap(waiting)).toBe(6);
    expect(maxOverlap(computing)).toBeLessThanOrEqual(availableParallelism());
  }, 60_000);
});
