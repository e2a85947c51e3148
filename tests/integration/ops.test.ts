import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';

import {
  ProcessingCompletedSchema,
  type ProcessingCompleted,
} from '../../src/events/processing-completed.js';
import { UnderwritingCreatedSchema } from '../../src/events/underwriting-created.js';
import { OPS_LIMITS } from '../../src/ops/api.js';
import {
  ExecutionPageSchema,
  StatsViewSchema,
  UnderwritingViewSchema,
  type UnderwritingView,
} from '../../src/ops/views.js';
import { cli } from '../helpers/cli.js';
import { getJson, serveOps, until, type Running } from '../helpers/ops-service.js';
import { uniqueCollection } from '../helpers/firestore.js';
import { ULID } from '../helpers/fixtures.js';
import {
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
  type Collector,
} from '../helpers/pubsub.js';

const pubsubHost = inject('pubsubEmulatorHost');
const firestoreHost = inject('firestoreEmulatorHost');
const CSRF = { 'x-requested-with': 'test' };

let pubsub: PubSub;
let inTopic: string;
let completed: Collector;
/** Every message on the input topic, re-run requests included (a second subscription). */
let requests: Collector;
let tallyFile: string;
let running: Running[] = [];

async function serve(env: Record<string, string>): Promise<Running> {
  const started = await serveOps({ PUBSUB_EMULATOR_HOST: pubsubHost, UNDERWRITING_TOPIC: inTopic, ...env });
  running.push(started);
  onTestFailed(() => {
    process.stderr.write(`service logs:\n${started.lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  });
  return started;
}

/** A pull subscription of its own on the input topic, for one service. */
async function pullSubscription(): Promise<string> {
  const name = uniqueName('uw-pull');
  await pubsub.topic(inTopic).createSubscription(name, { ackDeadlineSeconds: 30 });
  return name;
}

const publishEvent = (id: string, purchased: string[]) =>
  pubsub.topic(inTopic).publishMessage({
    data: Buffer.from(
      JSON.stringify({
        event: 'underwriting.created',
        data: { underwriting_id: id, documents: ['doc_001'], purchased_processors: purchased },
      }),
    ),
  });

async function runs(): Promise<{ processor_id: string; underwriting_id: string }[]> {
  const text = await readFile(tallyFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { processor_id: string; underwriting_id: string });
}

const runCount = async (processorId: string, underwritingId: string) =>
  (await runs()).filter((r) => r.processor_id === processorId && r.underwriting_id === underwritingId).length;

/** The published result for an underwriting; waits for the `nth` (1-based) one. */
async function resultFor(
  underwritingId: string,
  nth = 1,
): Promise<{ id: string; event: ProcessingCompleted }> {
  return until(`result ${nth} of ${underwritingId}`, () => {
    const found = completed.messages
      .map((m) => ({
        id: m.id,
        attributes: m.attributes,
        event: ProcessingCompletedSchema.parse(JSON.parse(m.data)),
      }))
      .filter((m) => m.event.underwriting_id === underwritingId);
    return Promise.resolve(found[nth - 1]);
  });
}

async function postRerun(base: string, id: string, body: unknown, headers: Record<string, string> = CSRF) {
  const response = await fetch(`${base}/ops/underwritings/${encodeURIComponent(id)}/rerun`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

// The machine may be busy: tests wait on conditions, never on time, and may take long.
const SLOW = { timeout: 240_000 };

beforeAll(async () => {
  pubsub = emulatorPubSub(pubsubHost);
  inTopic = uniqueName('uw-created');
  const outTopic = uniqueName('completed');
  const { subscription: spy } = await createTopicWithSubscription(pubsub, inTopic, `${inTopic}-spy`);
  requests = collectMessages(spy);
  const { subscription: out } = await createTopicWithSubscription(pubsub, outTopic, `${outTopic}-sub`);
  completed = collectMessages(out);
  tallyFile = join(await mkdtemp(join(tmpdir(), 'ops-')), 'runs.jsonl');
  // Worker threads take a copy of the environment when they start.
  process.env['FX_TALLY_FILE'] = tallyFile;
  process.env['COMPLETED_TOPIC_FOR_OPS'] = outTopic;
});

afterEach(async () => {
  await Promise.all(running.map((r) => r.service.stop('test over')));
  running = [];
}, 60_000);

afterAll(async () => {
  await requests.close();
  await completed.close();
  await pubsub.close();
  delete process.env['FX_TALLY_FILE'];
});

const completedTopic = () => process.env['COMPLETED_TOPIC_FOR_OPS'] ?? '';

/** The service pulling events, with its ledger on the Firestore emulator in a fresh collection. */
async function serveOnFirestore(): Promise<Running> {
  return serve({
    COMPLETED_TOPIC: completedTopic(),
    UNDERWRITING_SUBSCRIPTION: await pullSubscription(),
    LEDGER: 'firestore',
    FIRESTORE_EMULATOR_HOST: firestoreHost,
    LEDGER_COLLECTION: uniqueCollection(),
  });
}

describe('operations routes on the Firestore ledger', SLOW, () => {
  it('shows an execution, re-runs its failed processor through the input topic, and reuses the rest', async () => {
    const { base, lines } = await serveOnFirestore();
    const firstMessageId = await publishEvent('uw_ops_rerun', ['fx_tally', 'fx_fail_once']);
    const first = await resultFor('uw_ops_rerun');
    expect(first.event.overall_status).toBe('partial_success');
    expect(first.event.rerun_of).toBeUndefined();

    const before = await getJson(base, '/ops/underwritings/uw_ops_rerun');
    expect(before.status).toBe(200);
    const seen = UnderwritingViewSchema.parse(before.body);
    expect(seen.executions).toHaveLength(1);
    const [execution] = seen.executions;
    expect(execution).toMatchObject({
      key: firstMessageId,
      source_message_id: firstMessageId,
      deliveries: 1,
      overall_status: 'partial_success',
      published_message_id: first.id,
      rerun: null,
    });
    expect(Date.parse(execution?.finished_at ?? '')).toBeGreaterThanOrEqual(
      Date.parse(execution?.received_at ?? ''),
    );
    const failed = execution?.processors.find((p) => p.processor_id === 'fx_fail_once');
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, reused: false, timeout_phase: null });
    expect(failed?.error_message).toContain('first run fails');
    expect(failed?.execution_ids).toEqual([first.event.failed_processors[0]?.execution_id]);
    expect(failed?.queue_wait).toBeGreaterThanOrEqual(0);

    const posted = await postRerun(base, 'uw_ops_rerun', {
      processors: 'failed',
      reason: 'vendor fixed <b>it</b>',
    });
    expect(posted.status).toBe(202);
    const key = posted.body['key'] as string;
    expect(key).toMatch(ULID);

    const second = await resultFor('uw_ops_rerun', 2);
    expect(second.event).toMatchObject({ overall_status: 'success', rerun_of: firstMessageId });
    expect(second.event.completed_processors.map((p) => p.processor_id).sort()).toEqual([
      'fx_fail_once',
      'fx_tally',
    ]);
    // fx_tally's outcome is the first execution's, as it was: same execution id, not run again.
    const tallyFirst = first.event.completed_processors.find((p) => p.processor_id === 'fx_tally');
    const tallySecond = second.event.completed_processors.find((p) => p.processor_id === 'fx_tally');
    expect(tallySecond).toEqual(tallyFirst);
    expect(await runCount('fx_tally', 'uw_ops_rerun')).toBe(1);
    expect(await runCount('fx_fail_once', 'uw_ops_rerun')).toBe(2);
    expect(completed.messages.find((m) => m.id === second.id)?.attributes['rerun_of']).toBe(firstMessageId);

    // The request went through the input topic, keyed by the new execution's key.
    const request = await until('the re-run request on the input topic', () =>
      Promise.resolve(requests.messages.find((m) => m.attributes['rerun_of'] === firstMessageId)),
    );
    const requested = UnderwritingCreatedSchema.parse(JSON.parse(request.data));
    expect(requested.data).toMatchObject({
      underwriting_id: 'uw_ops_rerun',
      event_id: key,
      documents: ['doc_001'],
      rerun: {
        of: firstMessageId,
        processors: ['fx_fail_once'],
        requested_by: 'anonymous (OPS_AUTH=disabled)',
        reason: 'vendor fixed <b>it</b>',
      },
    });

    const after = UnderwritingViewSchema.parse((await getJson(base, '/ops/underwritings/uw_ops_rerun')).body);
    expect(after.executions.map((e) => e.key)).toEqual([key, firstMessageId]);
    const rerun = after.executions[0];
    expect(rerun).toMatchObject({
      overall_status: 'success',
      published_message_id: second.id,
      rerun: { of: firstMessageId, processors: ['fx_fail_once'], reason: 'vendor fixed <b>it</b>' },
    });
    expect(rerun?.processors).toMatchObject([
      { processor_id: 'fx_fail_once', status: 'completed', reused: false },
      {
        processor_id: 'fx_tally',
        status: 'completed',
        reused: true,
        execution_ids: [tallyFirst?.execution_id],
      },
    ]);

    // A redelivery of the request is the same execution: acked without publishing again.
    await pubsub
      .topic(inTopic)
      .publishMessage({ data: Buffer.from(request.data), attributes: request.attributes });
    await until('the redelivered request to be acked', () =>
      Promise.resolve(
        lines.find(
          (l) =>
            l['message'] === 'already published; acked without publishing again' &&
            l['execution_key'] === key,
        ),
      ),
    );
    expect(await runCount('fx_fail_once', 'uw_ops_rerun')).toBe(2);

    // Nothing left to re-run.
    const again = await postRerun(base, 'uw_ops_rerun', { processors: 'failed', reason: 'again' });
    expect(again).toMatchObject({ status: 409, body: { code: 'RERUN_REFUSED' } });
    expect(lines.filter((l) => l['message'] === 're-run requested')).toHaveLength(1);
  });

  it('pages executions newest first, filters them, and computes bounded stats', async () => {
    const { base } = await serveOnFirestore();
    // One at a time, so that their completion order is known.
    for (const id of ['uw_page_1', 'uw_page_2', 'uw_page_3']) {
      await publishEvent(id, id === 'uw_page_2' ? ['fx_tally', 'fx_fail_once'] : ['fx_tally']);
      await resultFor(id);
    }

    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/ops/executions?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = ExecutionPageSchema.parse((await getJson(base, query)).body);
      expect(page.executions.length).toBeLessThanOrEqual(2);
      all.push(...page.executions.map((e) => e.underwriting_id));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(all).toEqual(['uw_page_3', 'uw_page_2', 'uw_page_1']);

    const partial = ExecutionPageSchema.parse(
      (await getJson(base, '/ops/executions?status=partial_success')).body,
    );
    expect(partial.executions.map((e) => e.underwriting_id)).toEqual(['uw_page_2']);
    const byProcessor = ExecutionPageSchema.parse(
      (await getJson(base, '/ops/executions?processor=fx_fail_once')).body,
    );
    expect(byProcessor.executions.map((e) => e.underwriting_id)).toEqual(['uw_page_2']);
    const combined = ExecutionPageSchema.parse(
      (await getJson(base, '/ops/executions?status=success&processor=fx_tally')).body,
    );
    expect(combined.executions.map((e) => e.underwriting_id)).toEqual(['uw_page_3', 'uw_page_1']);
    const future = ExecutionPageSchema.parse(
      (await getJson(base, `/ops/executions?since=${new Date(Date.now() + 60_000).toISOString()}`)).body,
    );
    expect(future.executions).toEqual([]);

    const stats = StatsViewSchema.parse((await getJson(base, '/ops/stats?window=1h')).body);
    expect(stats).toMatchObject({
      window: '1h',
      sample: { executions: 3, limit: OPS_LIMITS.statsSample, truncated: false },
      in_flight: 0,
    });
    expect(stats.processors).toMatchObject([
      { processor_id: 'fx_fail_once', runs: 1, completed_rate: 0, failed_rate: 1, timeout_rate: 0 },
      { processor_id: 'fx_tally', runs: 3, completed_rate: 1, failed_rate: 0 },
    ]);
    expect(stats.processors[1]?.p95_run_time).toBeGreaterThanOrEqual(stats.processors[1]?.p50_run_time ?? 0);
    const day = StatsViewSchema.parse((await getJson(base, '/ops/stats?window=24h')).body);
    expect(day.window).toBe('24h');
  });

  it('answers 404 for an unknown underwriting and 400, 403 or 415 for what it cannot take', async () => {
    const { base, lines } = await serveOnFirestore();
    await publishEvent('uw_ops_bad', ['fx_tally']);
    await resultFor('uw_ops_bad');

    expect(await getJson(base, '/ops/underwritings/uw_nobody')).toMatchObject({
      status: 404,
      body: { code: 'NOT_FOUND', error: 'no execution of underwriting uw_nobody in the ledger' },
    });
    expect(await postRerun(base, 'uw_nobody', { processors: 'failed', reason: 'x' })).toMatchObject({
      status: 404,
    });
    for (const query of [
      'status=bogus',
      'limit=0',
      'limit=201',
      'since=yesterday',
      'colour=red',
      'cursor=abc',
    ]) {
      const answer = await getJson(base, `/ops/executions?${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.body['code'], query).toBe('REQUEST_INVALID');
    }
    expect((await getJson(base, '/ops/stats?window=7d')).body).toMatchObject({ code: 'REQUEST_INVALID' });
    for (const body of [
      {},
      { processors: 'failed' },
      { processors: [], reason: 'x' },
      { processors: 'all', reason: 'x' },
    ]) {
      const answer = await postRerun(base, 'uw_ops_bad', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(String(answer.body['error'])).toMatch(/^body: /);
    }
    expect(await postRerun(base, 'uw_ops_bad', { processors: ['fx_nope'], reason: 'x' })).toMatchObject({
      status: 400,
      body: { code: 'REQUEST_INVALID' },
    });
    expect(await postRerun(base, 'uw_ops_bad', { processors: 'failed', reason: 'x' })).toMatchObject({
      status: 409,
      body: { code: 'RERUN_REFUSED' },
    });
    // Without the anti-forgery header, or as a form, nothing is re-run.
    expect((await postRerun(base, 'uw_ops_bad', { processors: ['fx_tally'], reason: 'x' }, {})).status).toBe(
      403,
    );
    const form = await fetch(`${base}/ops/underwritings/uw_ops_bad/rerun`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...CSRF },
      body: '{"processors":["fx_tally"],"reason":"x"}',
    });
    expect(form.status).toBe(415);
    expect(lines.filter((l) => l['message'] === 're-run requested')).toHaveLength(0);
  });
});

describe('operations routes on the memory ledger', SLOW, () => {
  it('shows executions and re-runs within one instance', async () => {
    const { base } = await serve({
      COMPLETED_TOPIC: completedTopic(),
      UNDERWRITING_SUBSCRIPTION: await pullSubscription(),
      LEDGER: 'memory',
    });
    const messageId = await publishEvent('uw_ops_memory', ['fx_tally', 'fx_fail_once']);
    await resultFor('uw_ops_memory');
    const view: UnderwritingView = UnderwritingViewSchema.parse(
      (await getJson(base, '/ops/underwritings/uw_ops_memory')).body,
    );
    expect(view.executions[0]).toMatchObject({
      key: messageId,
      overall_status: 'partial_success',
      deliveries: 1,
    });
    const page = ExecutionPageSchema.parse(
      (await getJson(base, '/ops/executions?status=partial_success')).body,
    );
    expect(page.executions.map((e) => e.key)).toContain(messageId);

    const posted = await postRerun(base, 'uw_ops_memory', { processors: ['fx_fail_once'], reason: 'retry' });
    expect(posted.status).toBe(202);
    const second = await resultFor('uw_ops_memory', 2);
    expect(second.event).toMatchObject({ overall_status: 'success', rerun_of: messageId });
    expect(await runCount('fx_tally', 'uw_ops_memory')).toBe(1);

    // The operator's CLI, against the same service.
    const status = await cli(['status', 'uw_ops_memory', '--url', base]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^execution \S+ {2}success {2}received /);
    expect(status.stdout).toContain(
      `re-run of ${messageId} (fx_fail_once) by anonymous (OPS_AUTH=disabled): retry`,
    );
    expect(status.stdout).toMatch(/fx_tally +completed +1 +- +\d+\.\d{3} +yes/);
    expect(status.stdout).toContain('first run fails <script>alert(1)</script>');
    const json = await cli(['status', 'uw_ops_memory', '--url', base, '--json']);
    expect(UnderwritingViewSchema.parse(JSON.parse(json.stdout)).executions).toHaveLength(2);

    const nothing = await cli(['rerun', 'uw_ops_memory', '--reason', 'again', '--url', base]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('409 nothing failed or timed out');
    const noReason = await cli(['rerun', 'uw_ops_memory', '--url', base]);
    expect(noReason.code).toBe(2);
    const explicit = await cli([
      'rerun',
      'uw_ops_memory',
      '--processors',
      'fx_tally',
      '--reason',
      'cli',
      '--url',
      base,
      '--json',
    ]);
    expect(explicit.code, explicit.stderr).toBe(0);
    expect((JSON.parse(explicit.stdout) as { key: string }).key).toMatch(ULID);
    const third = await resultFor('uw_ops_memory', 3);
    expect(third.event.overall_status).toBe('success');
    expect(await runCount('fx_tally', 'uw_ops_memory')).toBe(2);
    expect(await runCount('fx_fail_once', 'uw_ops_memory')).toBe(2);

    // Without --json: the key, and the command to follow it with, as a user runs it from a checkout.
    const said = await cli([
      'rerun',
      'uw_ops_memory',
      '--processors',
      'fx_tally',
      '--reason',
      'text',
      '--url',
      base,
    ]);
    expect(said.code, said.stderr).toBe(0);
    expect(said.stdout).toMatch(
      new RegExp(
        `^re-run of uw_ops_memory requested: execution [0-9A-HJKMNP-TV-Z]{26}\\n` +
          `follow it with: npx processor-orchestrator status uw_ops_memory --url ${base}\\n$`,
      ),
    );
    expect((await resultFor('uw_ops_memory', 4)).event.overall_status).toBe('success');
  });
});

describe('operations routes without a ledger', SLOW, () => {
  it('answers 503 saying why with LEDGER=none', async () => {
    const { base } = await serve({ COMPLETED_TOPIC: completedTopic(), LEDGER: 'none' });
    for (const path of ['/ops/underwritings/uw_1', '/ops/executions', '/ops/stats']) {
      const answer = await getJson(base, path);
      expect(answer.status, path).toBe(503);
      expect(answer.body, path).toMatchObject({ code: 'OPS_UNAVAILABLE' });
      expect(String(answer.body['error'])).toContain('LEDGER=none');
    }
    expect((await postRerun(base, 'uw_1', { processors: 'failed', reason: 'x' })).status).toBe(503);
  });
});
