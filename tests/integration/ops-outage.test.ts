// A vendor outage end to end, on the Pub/Sub and Firestore emulators: pause a processor (events
// still publish, the processor is never called), find its runs, resume, re-run every one of them
// in bulk (once per underwriting, the others reused), an idempotent repeat, a cancelled job, and
// a job whose instance is killed mid-way and carried on by another.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';

import { UnderwritingCreatedSchema } from '../../src/events/underwriting-created.js';
import {
  AuditPageSchema,
  DryRunViewSchema,
  ExecutionPageSchema,
  JobAnswerSchema,
  ProcessorsViewSchema,
  UnderwritingViewSchema,
  type RerunJob,
} from '../../src/ops/views.js';
import { examplesDir } from '../../src/paths.js';
import { uniqueCollection } from '../helpers/firestore.js';
import { cli } from '../helpers/cli.js';
import { tallyProcessorsDir } from '../helpers/fixtures.js';
import {
  getJson,
  postJson,
  resultsOf,
  runCount,
  serveOps,
  tallied,
  until,
  type Running,
} from '../helpers/ops-service.js';
import {
  TEST_PROJECT_ID,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';
import { killServe, startServe, type ServeProcess } from '../helpers/serve.js';

const pubsubHost = inject('pubsubEmulatorHost');
const firestoreHost = inject('firestoreEmulatorHost');
const SLOW = { timeout: 300_000 };

let pubsub: PubSub;
let inTopic: string;
let outTopic: string;
let completed: Collector;
/** Every message on the input topic: the events, and the re-run requests (a second subscription). */
let requests: Collector;
let tallyFile: string;
let running: Running[] = [];
let children: ServeProcess[] = [];

beforeAll(async () => {
  pubsub = emulatorPubSub(pubsubHost);
  inTopic = uniqueName('uw-created');
  outTopic = uniqueName('completed');
  const { subscription: spy } = await createTopicWithSubscription(pubsub, inTopic, `${inTopic}-spy`);
  requests = collectMessages(spy);
  const { subscription: out } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  completed = collectMessages(out);
  tallyFile = join(await mkdtemp(join(tmpdir(), 'ops-outage-')), 'runs.jsonl');
  // Worker threads take a copy of the environment when they start.
  process.env['FX_TALLY_FILE'] = tallyFile;
});

afterEach(async () => {
  await Promise.all(running.map((r) => r.service.stop('test over')));
  await Promise.all(children.map((c) => killServe(c)));
  running = [];
  children = [];
}, 60_000);

afterAll(async () => {
  await requests.close();
  await completed.close();
  await pubsub.close();
  delete process.env['FX_TALLY_FILE'];
});

async function pullSubscription(topic = inTopic): Promise<string> {
  const name = uniqueName('uw-pull');
  await pubsub.topic(topic).createSubscription(name, { ackDeadlineSeconds: 30 });
  return name;
}

/** The environment of a service on the Firestore ledger (collection `collection`), pulling `subscription`. */
const firestoreEnv = (collection: string, subscription: string): Record<string, string> => ({
  PUBSUB_EMULATOR_HOST: pubsubHost,
  UNDERWRITING_TOPIC: inTopic,
  UNDERWRITING_SUBSCRIPTION: subscription,
  COMPLETED_TOPIC: outTopic,
  LEDGER: 'firestore',
  FIRESTORE_EMULATOR_HOST: firestoreHost,
  LEDGER_COLLECTION: collection,
});

async function serve(env: Record<string, string>): Promise<Running> {
  const started = await serveOps(env);
  running.push(started);
  onTestFailed(() => {
    process.stderr.write(`service logs:\n${started.lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  });
  return started;
}

const publishEvent = (id: string, purchased: string[], topic = inTopic) =>
  pubsub.topic(topic).publishMessage({
    json: {
      event: 'underwriting.created',
      data: { underwriting_id: id, documents: ['doc_001'], purchased_processors: purchased },
    },
  });

/** Publishes one event per id and waits for each one's first result. */
async function processAll(ids: string[], purchased: string[]): Promise<void> {
  for (const id of ids) await publishEvent(id, purchased);
  await until('the first results', () =>
    Promise.resolve(ids.every((id) => resultsOf(completed, id).length > 0) || undefined),
  );
}

/** Pauses fx_tally, processes `count` events (each FAILED with PROCESSOR_PAUSED), resumes it; their ids. */
async function failedWhilePaused(base: string, prefix: string, count: number): Promise<string[]> {
  await postJson(base, '/ops/processors/fx_tally/pause', { reason: 'down' });
  const ids = Array.from({ length: count }, (_, n) => uniqueName(`${prefix}_${n + 1}`).replace(/-/g, '_'));
  await processAll(ids, ['fx_tally']);
  await postJson(base, '/ops/processors/fx_tally/resume', {});
  return ids;
}

/** A bulk re-run of fx_tally's failed runs since `since`, at `pace` a second. */
const startJob = (base: string, since: string, reason: string, pace: number) =>
  postJson(base, '/ops/reruns', {
    processors: ['fx_tally'],
    status: 'failed',
    since,
    reason,
    pace_per_second: pace,
  });

async function jobOf(base: string, id: string): Promise<RerunJob> {
  return JobAnswerSchema.parse((await getJson(base, `/ops/reruns/${id}`)).body).job;
}

/** The re-run requests a job published, by underwriting: the execution keys each one carried. */
function requestedKeys(job: string): Map<string, Set<string>> {
  const keys = new Map<string, Set<string>>();
  for (const m of requests.messages.filter((r) => r.attributes['rerun_job'] === job)) {
    const { data } = UnderwritingCreatedSchema.parse(JSON.parse(m.data));
    const set = keys.get(data.underwriting_id) ?? new Set<string>();
    set.add(data.event_id ?? '');
    keys.set(data.underwriting_id, set);
  }
  return keys;
}

describe('a vendor outage, on the Firestore ledger', SLOW, () => {
  it('pauses a processor fleet-wide: events still publish, it is FAILED with PROCESSOR_PAUSED and never called; then a bulk re-run runs it once per underwriting', async () => {
    const since = new Date().toISOString();
    const { base, lines } = await serve(firestoreEnv(uniqueCollection(), await pullSubscription()));
    const paused = await postJson(base, '/ops/processors/fx_tally/pause', { reason: 'vendor down: INC-42' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({
      processor_id: 'fx_tally',
      scope: 'fleet',
      note: null,
      pause: { reason: 'vendor down: INC-42' },
    });
    expect(lines.some((l) => l['message'] === 'processor paused' && l['processor_id'] === 'fx_tally')).toBe(
      true,
    );

    const ids = ['uw_pause_1', 'uw_pause_2', 'uw_pause_3'].map((id) => uniqueName(id).replace(/-/g, '_'));
    await processAll(ids, ['fx_tally', 'fx_tally_slow']);
    for (const id of ids) {
      const [first] = resultsOf(completed, id);
      expect(first?.event.overall_status).toBe('partial_success');
      expect(first?.event.failed_processors).toEqual([
        {
          processor_id: 'fx_tally',
          execution_id: expect.any(String) as string,
          execution_time: 0,
          attempts: 0,
          error_code: 'PROCESSOR_PAUSED',
          error_message: expect.stringMatching(
            /^not called: paused by anonymous \(OPS_AUTH=disabled\) at \d{4}-\d\d-\d\dT[\d:.]+Z: vendor down: INC-42$/,
          ) as string,
        },
      ]);
      expect(first?.event.completed_processors.map((p) => p.processor_id)).toEqual(['fx_tally_slow']);
      // Never called: no request reached its outside service.
      expect(await runCount(tallyFile, 'fx_tally', id)).toBe(0);
      expect(await runCount(tallyFile, 'fx_tally_slow', id)).toBe(1);
    }

    // The page's banner and table read this.
    const processors = ProcessorsViewSchema.parse((await getJson(base, '/ops/processors')).body);
    const row = processors.processors.find((p) => p.processor_id === 'fx_tally');
    expect(row).toMatchObject({ state: 'paused', pause: { reason: 'vendor down: INC-42' } });
    expect(row?.last_hour?.skipped).toBe(3);
    expect(row?.last_hour?.runs).toBe(0);

    // Find them: by code, by processor and outcome, by text, by underwriting prefix, by time.
    const found = async (query: string) =>
      ExecutionPageSchema.parse((await getJson(base, `/ops/executions?${query}`)).body)
        .executions.map((e) => e.underwriting_id)
        .sort();
    expect(await found('error_code=PROCESSOR_PAUSED')).toEqual([...ids].sort());
    expect(await found('processor=fx_tally&outcome=failed')).toEqual([...ids].sort());
    expect(await found('processor=fx_tally_slow&outcome=failed')).toEqual([]);
    expect(await found('error=INC-42')).toEqual([...ids].sort());
    expect(await found('error=nothing%20like%20it')).toEqual([]);
    expect(await found(`underwriting=${ids[1]}`)).toEqual([ids[1]]);
    expect(
      await found(
        `since=${since}&until=${new Date(Date.now() + 60_000).toISOString()}&error_code=PROCESSOR_PAUSED`,
      ),
    ).toHaveLength(3);
    expect(await found(`until=${since}`)).toEqual([]);
    const view = UnderwritingViewSchema.parse((await getJson(base, `/ops/underwritings/${ids[0]}`)).body);
    expect(view.executions[0]?.processors.find((p) => p.processor_id === 'fx_tally')?.error_code).toBe(
      'PROCESSOR_PAUSED',
    );

    // Resume; then count, then re-run every one of them.
    expect((await postJson(base, '/ops/processors/fx_tally/resume', { reason: 'vendor back' })).status).toBe(
      200,
    );
    expect((await postJson(base, '/ops/processors/fx_tally/resume', {})).status).toBe(404);
    const selection = { processors: ['fx_tally'], status: 'failed', since, reason: 'INC-42 is over' };
    const dry = DryRunViewSchema.parse(
      (await postJson(base, '/ops/reruns', { ...selection, dry_run: true })).body,
    );
    expect(dry.count).toBe(3);
    expect(dry.sample.map((c) => c.underwriting_id).sort()).toEqual([...ids].sort());
    expect(dry.sample[0]?.error_message).toContain('vendor down: INC-42');

    const key = { 'idempotency-key': uniqueName('key') };
    const created = await postJson(base, '/ops/reruns', { ...selection, pace_per_second: 10 }, key);
    expect(created.status).toBe(202);
    const job = JobAnswerSchema.parse(created.body).job;
    expect(job).toMatchObject({
      state: 'running',
      counts: { selected: 3 },
      requested_by: 'anonymous (OPS_AUTH=disabled)',
    });
    // The same POST again: the same job, not a second one.
    const again = await postJson(base, '/ops/reruns', { ...selection, pace_per_second: 10 }, key);
    expect(again.status).toBe(200);
    expect(JobAnswerSchema.parse(again.body)).toMatchObject({ created: false, job: { id: job.id } });
    const conflict = await postJson(base, '/ops/reruns', { ...selection, status: 'timeout' }, key);
    expect(conflict).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_REUSED' } });

    const done = await until('the job to be done', async () => {
      const current = await jobOf(base, job.id);
      return current.state === 'done' ? current : undefined;
    });
    expect(done.counts).toEqual({ selected: 3, requested: 3, finished: 3, failed: 0, skipped: 0 });
    for (const id of ids) {
      const all = resultsOf(completed, id);
      expect(all).toHaveLength(2);
      const [first, rerun] = all;
      const executions = UnderwritingViewSchema.parse(
        (await getJson(base, `/ops/underwritings/${id}`)).body,
      ).executions;
      expect(rerun?.event).toMatchObject({ overall_status: 'success', rerun_of: executions.at(-1)?.key });
      expect(rerun?.attributes['rerun_of']).toBe(rerun?.event.rerun_of);
      expect(await runCount(tallyFile, 'fx_tally', id)).toBe(1);
      // The other processor was reused, as it was: same execution id, not run again.
      expect(await runCount(tallyFile, 'fx_tally_slow', id)).toBe(1);
      const slow = (r: typeof first) =>
        r?.event.completed_processors.find((p) => p.processor_id === 'fx_tally_slow');
      expect(slow(rerun)).toEqual(slow(first));
      expect(requestedKeys(job.id).get(id)?.size).toBe(1);
      expect(executions[0]?.rerun).toMatchObject({
        job: job.id,
        processors: ['fx_tally'],
        reason: 'INC-42 is over',
      });
    }
    // A repeat after it is done still starts nothing.
    expect((await postJson(base, '/ops/reruns', { ...selection, pace_per_second: 10 }, key)).status).toBe(
      200,
    );
    const jobs = (await getJson(base, '/ops/reruns')).body['jobs'] as unknown[];
    expect(jobs).toHaveLength(1);
    // Nothing is left to re-run: every underwriting's latest execution completed fx_tally.
    const after = DryRunViewSchema.parse(
      (await postJson(base, '/ops/reruns', { ...selection, dry_run: true })).body,
    );
    expect(after.count).toBe(0);

    const audit = AuditPageSchema.parse((await getJson(base, '/ops/audit?limit=10')).body);
    expect(audit.entries.map((e) => [e.action, e.subject, e.reason])).toEqual([
      ['rerun_job', job.id, 'INC-42 is over'],
      ['resume', 'fx_tally', 'vendor back'],
      ['pause', 'fx_tally', 'vendor down: INC-42'],
    ]);
    expect(audit.entries[0]).toMatchObject({
      by: 'anonymous (OPS_AUTH=disabled)',
      selection: { processors: ['fx_tally'], status: 'failed', since, pace_per_second: 10 },
      result: { job: job.id, selected: 3 },
    });
    expect(audit.entries[1]?.result).toMatchObject({ lifted: { reason: 'vendor down: INC-42' } });
  });

  it('every instance acts on a pause within 5 s, and on the resume', async () => {
    const collection = uniqueCollection();
    const a = await serve(firestoreEnv(collection, await pullSubscription()));
    // B takes its events from a topic of its own, so that each event goes to B.
    const topicB = uniqueName('uw-created-b');
    await pubsub.createTopic(topicB);
    const b = await serve({
      ...firestoreEnv(collection, await pullSubscription(topicB)),
      UNDERWRITING_TOPIC: topicB,
    });
    // B reads the pauses (none) once, so that its cache is warm.
    const warm = uniqueName('uw_warm').replace(/-/g, '_');
    await publishEvent(warm, ['fx_tally'], topicB);
    await until('B to process an event', () => Promise.resolve(resultsOf(completed, warm)[0]));

    expect((await postJson(a.base, '/ops/processors/fx_tally/pause', { reason: 'fleet-wide' })).status).toBe(
      200,
    );
    // The pause is written by now. Events go to B every 300 ms for 7 s; every one sent 5 s or more
    // after the pause must be PAUSED, however long the machine takes to process it.
    const pausedAt = Date.now();
    const probes: { id: string; sentAt: number }[] = [];
    while (Date.now() - pausedAt < 7_000) {
      const id = uniqueName('uw_probe').replace(/-/g, '_');
      probes.push({ id, sentAt: Date.now() });
      await publishEvent(id, ['fx_tally'], topicB);
      await sleep(300);
    }
    const late = probes.filter((p) => p.sentAt - pausedAt >= 5_000);
    expect(late.length).toBeGreaterThanOrEqual(3);
    for (const probe of late) {
      const result = await until('its result', () => Promise.resolve(resultsOf(completed, probe.id)[0]));
      expect(result.event.failed_processors[0]?.error_code, `${probe.sentAt - pausedAt} ms after`).toBe(
        'PROCESSOR_PAUSED',
      );
    }
    expect(
      b.lines.some((l) => l['message'] === 'processor not called' && l['error_code'] === 'PROCESSOR_PAUSED'),
    ).toBe(true);

    expect((await postJson(b.base, '/ops/processors/fx_tally/resume', {})).status).toBe(200);
    await until(
      'A to act on the resume',
      async () => {
        const id = uniqueName('uw_probe').replace(/-/g, '_');
        await publishEvent(id, ['fx_tally']);
        const result = await until('its result', () => Promise.resolve(resultsOf(completed, id)[0]), 30_000);
        return result.event.overall_status === 'success' || undefined;
      },
      30_000,
    );
  });

  it('stops requesting once a job is cancelled, and follows what it requested before', async () => {
    const since = new Date().toISOString();
    const { base } = await serve(firestoreEnv(uniqueCollection(), await pullSubscription()));
    const ids = await failedWhilePaused(base, 'uw_cancel', 5);
    // One request every 4 s: a job that did not stop would request another within the wait below.
    const { job } = JobAnswerSchema.parse((await startJob(base, since, 'slowly', 0.25)).body);
    await until('a first request', async () =>
      (await jobOf(base, job.id)).counts.requested >= 1 ? true : undefined,
    );
    const cancel = await postJson(base, `/ops/reruns/${job.id}/cancel`, { reason: 'enough' });
    expect(cancel.status).toBe(200);
    const cancelled = JobAnswerSchema.parse(cancel.body).job;
    expect(cancelled).toMatchObject({ state: 'cancelled', cancelled_by: 'anonymous (OPS_AUTH=disabled)' });
    const requestedThen = cancelled.counts.requested;
    expect(requestedThen).toBeLessThan(5);

    // What it requested is followed to its result; nothing more is requested.
    const over = await until('the cancelled job to follow its requests', async () => {
      const current = await jobOf(base, job.id);
      return current.counts.finished + current.counts.failed === requestedThen ? current : undefined;
    });
    await sleep(6_000);
    const later = await jobOf(base, job.id);
    expect(later.counts.requested).toBe(requestedThen);
    expect(later.counts).toMatchObject({ selected: 5, requested: requestedThen, finished: requestedThen });
    expect(over.state).toBe('cancelled');
    expect(requestedKeys(job.id).size).toBe(requestedThen);
    const rerunCount = (await tallied(tallyFile)).filter((r) => ids.includes(r.underwriting_id)).length;
    expect(rerunCount).toBe(requestedThen);
    // Cancelling again answers the job as it is; a done job cannot be cancelled.
    expect((await postJson(base, `/ops/reruns/${job.id}/cancel`, {})).status).toBe(200);
    const audit = AuditPageSchema.parse((await getJson(base, '/ops/audit')).body);
    expect(audit.entries[0]).toMatchObject({ action: 'rerun_job_cancel', subject: job.id, reason: 'enough' });
  });

  it('carries a job on when the instance carrying it is killed, requesting no underwriting twice', async () => {
    const since = new Date().toISOString();
    const collection = uniqueCollection();
    const subscription = await pullSubscription();
    // A: the built service, as its own process, so that it can be killed outright.
    const a = startServe({
      GOOGLE_CLOUD_PROJECT: TEST_PROJECT_ID,
      ...firestoreEnv(collection, subscription),
      PROCESSORS_DIR: tallyProcessorsDir,
      DOCUMENTS_DIR: `${examplesDir}/documents`,
      PROCESSOR_THREADS: '1',
      OPS_AUTH: 'disabled',
      FX_TALLY_FILE: tallyFile,
    });
    children.push(a);
    const baseA = `http://127.0.0.1:${await a.port()}`;
    onTestFailed(() => {
      process.stderr.write(`A's logs:\n${a.logs.map((l) => JSON.stringify(l)).join('\n')}\n`);
    });
    const ids = await failedWhilePaused(baseA, 'uw_kill', 6);
    const created = await startJob(baseA, since, 'carried on', 0.5);
    expect(created.status).toBe(202);
    const { job } = JobAnswerSchema.parse(created.body);
    // B: in-process, on the same ledger and subscription; its carrier looks for orphaned jobs.
    const b = await serve(firestoreEnv(collection, subscription));
    await until('A to request two', async () =>
      (await jobOf(b.base, job.id)).counts.requested >= 2 ? true : undefined,
    );
    a.child.kill('SIGKILL');
    const killed = await a.exited;
    expect(killed.signal).toBe('SIGKILL');

    const done = await until(
      'B to carry the job to its end',
      async () => {
        const current = await jobOf(b.base, job.id);
        return current.state === 'done' ? current : undefined;
      },
      240_000,
    );
    expect(done.counts).toEqual({ selected: 6, requested: 6, finished: 6, failed: 0, skipped: 0 });
    expect(b.lines.some((l) => l['message'] === 'carrying on a bulk re-run job' && l['job'] === job.id)).toBe(
      true,
    );
    const keys = requestedKeys(job.id);
    expect([...keys.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) {
      // One execution key per underwriting: requested once (a request published again after the
      // kill carries the same key, and is the same execution).
      expect(keys.get(id)?.size).toBe(1);
      const reruns = UnderwritingViewSchema.parse(
        (await getJson(b.base, `/ops/underwritings/${id}`)).body,
      ).executions.filter((e) => e.rerun?.job === job.id);
      expect(reruns).toHaveLength(1);
      expect(reruns[0]?.overall_status).toBe('success');
      expect(
        resultsOf(completed, id).filter((r) => r.event.rerun_of !== undefined).length,
      ).toBeGreaterThanOrEqual(1);
    }
  }, 300_000);
});

describe('operator actions on the memory ledger and without a ledger', SLOW, () => {
  it('pauses, resumes and re-runs in bulk from the command line', async () => {
    const { base } = await serve({
      PUBSUB_EMULATOR_HOST: pubsubHost,
      UNDERWRITING_TOPIC: inTopic,
      UNDERWRITING_SUBSCRIPTION: await pullSubscription(),
      COMPLETED_TOPIC: outTopic,
      LEDGER: 'memory',
    });
    const url = ['--url', base];
    const noReason = await cli(['pause', 'fx_tally', ...url]);
    expect(noReason.code).toBe(2);
    const paused = await cli(['pause', 'fx_tally', '--reason', 'vendor down', ...url]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(
      /^fx_tally paused by anonymous \(OPS_AUTH=disabled\) at \S+: it is not called/,
    );
    expect(paused.stdout).toContain('note: LEDGER=memory');
    const ids = [1, 2].map((n) => uniqueName(`uw_cli_${n}`).replace(/-/g, '_'));
    await processAll(ids, ['fx_tally']);
    const resumed = await cli(['resume', 'fx_tally', ...url]);
    expect(resumed.stdout).toContain('fx_tally resumed (it was paused by anonymous (OPS_AUTH=disabled)');
    expect((await cli(['resume', 'fx_tally', ...url])).stderr).toContain(
      '404 processor fx_tally is not paused',
    );

    const dry = await cli([
      'rerun',
      '--processor',
      'fx_tally',
      '--status',
      'failed',
      '--since',
      '1h',
      '--dry-run',
      ...url,
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^2 underwritings would be re-run/);
    for (const id of ids) expect(dry.stdout).toContain(id);
    const noBulkReason = await cli(['rerun', '--processor', 'fx_tally', '--since', '1h', ...url]);
    expect(noBulkReason.code).toBe(2);
    const both = await cli(['rerun', 'uw_1', '--processor', 'fx_tally', '--since', '1h', ...url]);
    expect(both.code).toBe(2);
    const badSince = await cli([
      'rerun',
      '--processor',
      'fx_tally',
      '--since',
      'yesterday',
      '--reason',
      'r',
      ...url,
    ]);
    expect(badSince.stderr).toContain('--since: yesterday is neither');

    const run = await cli(
      [
        'rerun',
        '--processor',
        'fx_tally',
        '--since',
        '1h',
        '--reason',
        'vendor back',
        '--pace',
        '10',
        '--key',
        'cli-key-1',
        '--wait',
        ...url,
      ],
      {},
      120_000,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /^started bulk re-run job \S+: 2 underwritings selected, 10\/s; --key cli-key-1$/m,
    );
    expect(run.stdout).toMatch(/^done: selected 2, requested 2, finished 2, failed 0, skipped 0$/m);
    for (const id of ids) expect(await runCount(tallyFile, 'fx_tally', id)).toBe(1);
    const again = await cli([
      'rerun',
      '--processor',
      'fx_tally',
      '--since',
      '1h',
      '--reason',
      'vendor back',
      '--key',
      'cli-key-1',
      ...url,
    ]);
    expect(again.stdout).toMatch(/^found \(same --key\) bulk re-run job/);
  });

  it('says a pause holds for this instance only with LEDGER=memory, and answers 503 with LEDGER=none', async () => {
    const memory = await serve({
      PUBSUB_EMULATOR_HOST: pubsubHost,
      UNDERWRITING_TOPIC: inTopic,
      COMPLETED_TOPIC: outTopic,
      LEDGER: 'memory',
    });
    const paused = await postJson(memory.base, '/ops/processors/fx_tally/pause', { reason: 'local' });
    expect(paused.body).toMatchObject({
      scope: 'instance',
      note: expect.stringContaining('this instance only') as string,
    });
    expect((await postJson(memory.base, '/ops/processors/nope_v1/pause', { reason: 'x' })).status).toBe(404);
    expect((await postJson(memory.base, '/ops/processors/fx_tally/pause', {})).status).toBe(400);
    const none = await serve({ PUBSUB_EMULATOR_HOST: pubsubHost, COMPLETED_TOPIC: outTopic, LEDGER: 'none' });
    const bulk = { reason: 'x', processors: ['fx_tally'], status: 'failed', since: EPOCH };
    for (const [path, body] of [
      ['/ops/processors/fx_tally/pause', { reason: 'x' }],
      ['/ops/reruns', bulk],
      ['/ops/reruns', { ...bulk, dry_run: true }],
      ['/ops/processors', undefined],
      ['/ops/reruns/x', undefined],
      ['/ops/audit', undefined],
    ] as const) {
      const answer =
        body === undefined ? await getJson(none.base, path) : await postJson(none.base, path, body);
      expect(answer.status, path).toBe(503);
      expect(String(answer.body['error']), path).toContain('LEDGER=none');
    }
  });
});

const EPOCH = new Date(0).toISOString();
