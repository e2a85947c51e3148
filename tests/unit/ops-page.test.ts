import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';

import type { OpsAuth } from '../../src/ops/auth.js';
import { escapeHtml, html } from '../../src/ops/html.js';
import { registerOpsPage } from '../../src/ops/page.js';
import { CSRF_HEADER, registerOps } from '../../src/ops/routes.js';
import { createHttpServer } from '../../src/transport/http.js';
import { crossSiteReason } from '../../src/ops/same-origin.js';
import type { CircuitView, OpsIdentity } from '../../src/ops/views.js';
import { capturingLog } from '../helpers/fixtures.js';
import { OPERATOR, READER, fakeOpsApi, servePage, type FakeOpsApi } from '../helpers/ops.js';

const HOSTILE = `<script>alert(1)</script><img src=x onerror="alert(2)"> & 'quoted'`;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function page(api: FakeOpsApi, who: OpsIdentity = OPERATOR) {
  const served = await servePage(api, () => who);
  app = served.app;
  return served.app;
}

function form(fields: [string, string][]): string {
  return new URLSearchParams(fields).toString();
}

const SAME_ORIGIN = { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' };

describe('html', () => {
  it('escapes every interpolated value and keeps nested markup', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${'"x"'}">${HOSTILE}${inner}${[1, null, false, 'a&b']}</p>`.value).toBe(
      `<p title="&quot;x&quot;">${escapeHtml(HOSTILE)}<b>&lt;i&gt;</b>1a&amp;b</p>`,
    );
    expect(escapeHtml(HOSTILE)).not.toMatch(/[<>"']/);
  });
});

describe('crossSiteReason', () => {
  it('accepts a same-origin form and refuses every other site or a request that says nothing', () => {
    expect(crossSiteReason({ 'sec-fetch-site': 'same-origin', host: 'a.example' })).toBeUndefined();
    expect(crossSiteReason({ origin: 'https://a.example', host: 'a.example' })).toBeUndefined();
    expect(
      crossSiteReason({ 'sec-fetch-site': 'cross-site', origin: 'https://a.example', host: 'a.example' }),
    ).toMatch(/another site/);
    expect(crossSiteReason({ 'sec-fetch-site': 'same-site', host: 'a.example' })).toMatch(/another site/);
    expect(crossSiteReason({ origin: 'https://evil.example', host: 'a.example' })).toMatch(/another origin/);
    expect(crossSiteReason({ origin: 'null', host: 'a.example' })).toMatch(/unknown origin/);
    expect(crossSiteReason({ host: 'a.example' })).toMatch(/neither/);
  });
});

describe('the /ops page', () => {
  it('lists recent underwritings with badges, filters and the processors table, with a strict CSP', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const res = await server.inject({
      url:
        '/ops?status=partial_success&processor=bank_stmt_v1&outcome=failed&error_code=PROCESSOR_FAILED' +
        '&error=503&underwriting=uw_10&since=2026-11-30T00:00&until=2026-11-30T23:59:30',
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('same-origin');
    expect(res.body).toContain('href="/ops/u/uw_1001"');
    expect(res.body).toContain('badge b-partial_success');
    expect(res.body).not.toContain('uw_1002');
    expect(res.body).toMatch(/<option value="partial_success"\s+selected>/);
    expect(res.body).toMatch(/<option value="PROCESSOR_FAILED"\s+selected>/);
    expect(res.body).toContain('value="2026-11-30T00:00"');
    expect(api.queries.at(-1)).toEqual({
      status: 'partial_success',
      processor: 'bank_stmt_v1',
      outcome: 'failed',
      error_code: 'PROCESSOR_FAILED',
      error: '503',
      underwriting: 'uw_10',
      since: '2026-11-30T00:00:00Z',
      until: '2026-11-30T23:59:30Z',
      limit: 50,
    });
    expect(res.body).toContain('<h2 id="processors">Processors</h2>');
    expect(res.body).toMatch(/Last hour[\s\S]*Last 24 hours/);
    // No inline script or style for the CSP to forbid.
    expect(res.body).not.toMatch(/<script>|<style|style=|onclick=/);
  });

  it('pages by cursor, keeping the filters in its links', async () => {
    const [template] = (await fakeOpsApi().executions({ limit: 1, status: 'success' })).executions;
    const extra = Array.from({ length: 60 }, (_, i) => ({
      ...template!,
      key: `k${i}`,
      underwriting_id: `uw_x${i}`,
    }));
    const server = await page(fakeOpsApi({ extra }));
    const first = await server.inject({ url: '/ops?processor=bank_stmt_v1' });
    expect(first.body).toContain('href="/ops?processor=bank_stmt_v1&amp;cursor=50" rel="next"');
    expect(first.body).not.toContain('First page');
    const second = await server.inject({ url: '/ops?processor=bank_stmt_v1&cursor=50' });
    expect(second.body).toContain('href="/ops?processor=bank_stmt_v1">First page');
    expect(second.body).not.toContain('rel="next"');
  });

  it('drops a filter it cannot read and says so', async () => {
    const server = await page(fakeOpsApi());
    const res = await server.inject({ url: '/ops?status=exploded' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Filters ignored: status');
    expect(res.body).toContain('uw_1002');
  });

  it('shows the timeline, errors, reused outcomes and the re-run form to an operator', async () => {
    const api = fakeOpsApi({ extra: [] });
    const latest = (await api.underwriting('uw_1001')).executions[0]!;
    api.record({
      ...latest,
      processors: latest.processors.map((p, i) =>
        i === 0 ? { ...p, error_message: HOSTILE } : { ...p, reused: true },
      ),
    });
    const server = await page(api);
    const res = await server.inject({ url: '/ops/u/uw_1001' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(escapeHtml(HOSTILE));
    expect(res.body).not.toContain('<script>alert');
    expect(res.body).not.toContain('<img src=x');
    expect(res.body).toMatch(/<rect class="r-failed" x="[\d.]+" y="0" width="[\d.]+"/);
    expect(res.body).toContain('badge b-reused');
    expect(res.body).toContain('action="/ops/u/uw_1001/rerun"');
    expect(res.body).toMatch(/name="processors"\s+value="failed"\s+checked\s*\/?>/);
    expect(res.body).toContain('<label for="rerun-reason">');
  });

  it('draws the timeline over the whole execution, as long as it took, and says reused rows ran elsewhere', async () => {
    const api = fakeOpsApi();
    const latest = (await api.underwriting('uw_1001')).executions[0]!;
    api.record({
      ...latest,
      processors: latest.processors.map((p) =>
        p.processor_id === 'secretary_of_state_v1' ? { ...p, queue_wait: null, reused: true } : p,
      ),
    });
    const res = await (await page(api)).inject({ url: '/ops/u/uw_1001' });
    const took = /\(took ([^)]+)\)/.exec(res.body)?.[1];
    expect(took).toBe('3.72 s');
    expect(res.body.replace(/\s+/g, ' ')).toContain(`Timeline from receipt (0) to finished (${took}):`);
    const reused =
      /<tr>(?:(?!<\/tr>)[\s\S])*secretary_of_state_v1(?:(?!<\/tr>)[\s\S])*<\/tr>/.exec(res.body)?.[0] ?? '';
    const cells = [...reused.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) =>
      m[1]!.replace(/<[^>]+>|\s+/g, ' ').trim(),
    );
    // Status, attempts, timeline, queued, ran, error.
    expect(cells[2]).toBe('not run here: reused (it ran 2.10 s in an earlier delivery or execution)');
    expect(cells.slice(3, 5)).toEqual(['—', '—']);
  });

  it('does not show the re-run form to a reader, and refuses a reader who posts it', async () => {
    const api = fakeOpsApi();
    const server = await page(api, READER);
    const res = await server.inject({ url: '/ops/u/uw_1001' });
    expect(res.body).not.toContain('<form method="post"');
    expect(res.body).toContain('Re-running needs the operator role');
    const post = await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1001/rerun',
      headers: SAME_ORIGIN,
      payload: form([
        ['processors', 'failed'],
        ['reason', 'try again'],
      ]),
    });
    expect(post.statusCode).toBe(403);
    expect(api.reruns).toEqual([]);
  });

  it('re-runs through the form and redirects to the detail page, which waits for the result', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const post = await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1001/rerun',
      headers: SAME_ORIGIN,
      payload: form([
        ['processors', 'failed'],
        ['reason', 'upstream is back'],
      ]),
    });
    expect(post.statusCode).toBe(303);
    expect(post.headers['location']).toMatch(/^\/ops\/u\/uw_1001\?rerun=rerun-uw_1001-1&at=\d+$/);
    expect(api.reruns).toEqual([
      {
        underwritingId: 'uw_1001',
        request: { processors: 'failed', reason: 'upstream is back' },
        by: OPERATOR,
        key: 'rerun-uw_1001-1',
      },
    ]);
    const detail = await server.inject({ url: post.headers['location'] });
    expect(detail.body).toContain('data-refresh-seconds=');
    expect(detail.body).toContain('Re-run <code>rerun-uw_1001-1</code> requested');
  });

  it('stops reloading for a re-run not recorded ten minutes after it was asked for, and says so', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const stale = await server.inject({ url: `/ops/u/uw_1001?rerun=never&at=${Date.now() - 11 * 60_000}` });
    expect(stale.body).not.toContain('data-refresh-seconds');
    expect(stale.body).toMatch(
      /is still waiting for an instance to take it\s+after ten minutes; this page no longer reloads/,
    );
    const fresh = await server.inject({ url: `/ops/u/uw_1001?rerun=never&at=${Date.now()}` });
    expect(fresh.body).toContain('data-refresh-seconds="2"');
  });

  it('sends the failing processors with the ones named when both are chosen', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1001/rerun',
      headers: SAME_ORIGIN,
      payload: form([
        ['processors', 'failed'],
        ['processors', 'credit_report_v2'],
        ['reason', 'both'],
      ]),
    });
    expect(api.reruns[0]?.request.processors).toEqual(['bank_stmt_v1', 'credit_report_v2']);
  });

  it('logs a re-run asked through the form exactly as one asked through the JSON route', async () => {
    const { log, lines } = capturingLog();
    const api = fakeOpsApi();
    const server = createHttpServer(log, () => ({ problems: {} }));
    const auth: OpsAuth = {
      mode: 'disabled',
      check: () => Promise.resolve({ ok: true, identity: OPERATOR }),
      start: () => Promise.resolve(),
      close: () => {},
    };
    registerOps(server, { api, auth, log, page: registerOpsPage });
    onTestFinished(() => server.close());
    const json = await server.inject({
      method: 'POST',
      url: '/ops/underwritings/uw_1001/rerun',
      headers: { [CSRF_HEADER]: 'test' },
      payload: { processors: ['bank_stmt_v1'], reason: 'upstream fixed' },
    });
    expect(json.statusCode).toBe(202);
    const post = await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1001/rerun',
      headers: SAME_ORIGIN,
      payload: form([
        ['processors', 'bank_stmt_v1'],
        ['reason', 'upstream fixed'],
      ]),
    });
    expect(post.statusCode).toBe(303);
    const requested = lines.filter((l) => l['message'] === 're-run requested');
    // Alike but for when, and for the key of the execution each asked for.
    const asLogged = (l: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'timestamp' && k !== 'execution_key'));
    expect(requested.map(asLogged)).toEqual([
      expect.objectContaining({
        severity: 'INFO',
        underwriting_id: 'uw_1001',
        requested_by: OPERATOR.email,
        processors: ['bank_stmt_v1'],
        reason: 'upstream fixed',
      }),
      asLogged(requested[0]!),
    ]);
    expect(requested.map((l) => l['execution_key'])).toEqual(api.reruns.map((r) => r.key));
  });

  it('shows the form again with the problem when no processor or no reason is given', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const none = await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1001/rerun',
      headers: SAME_ORIGIN,
      payload: form([['reason', 'kept <b>text</b>']]),
    });
    expect(none.statusCode).toBe(400);
    expect(none.body).toContain('Choose at least one processor');
    expect(none.body).toContain('kept &lt;b&gt;text&lt;/b&gt;</textarea>');
    const noReason = await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1001/rerun',
      headers: SAME_ORIGIN,
      payload: form([
        ['processors', 'bank_stmt_v1'],
        ['reason', '   '],
      ]),
    });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.body).toContain('Give a reason');
    expect(api.reruns).toEqual([]);
  });

  it('refuses a re-run posted from another site, or by a client that does not say where it is from', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const payload = form([
      ['processors', 'failed'],
      ['reason', 'forged'],
    ]);
    for (const headers of [
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { origin: 'https://evil.example' },
      {},
    ]) {
      const res = await server.inject({
        method: 'POST',
        url: '/ops/u/uw_1001/rerun',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload,
      });
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    }
    expect(api.reruns).toEqual([]);
  });

  it('says why it cannot read when the API is unavailable, with the status the JSON routes answer', async () => {
    const api = fakeOpsApi();
    const unavailable = Object.assign(
      new Error('LEDGER=none: the operations views read the execution ledger'),
      {
        code: 'OPS_UNAVAILABLE',
      },
    );
    const server = await page({ ...api, executions: () => Promise.reject(unavailable) });
    const res = await server.inject({ url: '/ops' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('LEDGER=none: the operations views read the execution ledger');
  });

  it('shows the form again with the reason the API refused the re-run', async () => {
    const api = fakeOpsApi();
    const refused = Object.assign(new Error('nothing failed in the latest execution'), {
      code: 'RERUN_REFUSED',
    });
    const server = await page({ ...api, rerun: () => Promise.reject(refused) });
    const res = await server.inject({
      method: 'POST',
      url: '/ops/u/uw_1002/rerun',
      headers: SAME_ORIGIN,
      payload: form([
        ['processors', 'failed'],
        ['reason', 'check'],
      ]),
    });
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('The re-run was not started: nothing failed in the latest execution');
    expect(res.body).toMatch(/<textarea[^>]*>\s*check<\/textarea>/);
  });

  it('answers 404 with a page for an underwriting the ledger does not have', async () => {
    const server = await page(fakeOpsApi());
    const res = await server.inject({ url: '/ops/u/%3Cscript%3Euw' });
    expect(res.statusCode).toBe(404);
    expect(res.body).toContain('no execution of underwriting &lt;script&gt;uw is recorded');
  });

  it('serves its stylesheet and script with the CSP and nosniff', async () => {
    const server = await page(fakeOpsApi());
    const css = await server.inject({ url: '/ops/assets/ops.css' });
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const js = await server.inject({ url: '/ops/assets/ops.js' });
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect(js.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('the /ops page in an outage', () => {
  const OPEN: CircuitView = {
    processor_id: 'clear_business_report_v1',
    state: 'open',
    since: '2026-11-30T11:58:00.000Z',
    until: '2026-11-30T11:59:00.000Z',
    runs: 12,
    failures: 9,
    policy: { failureRate: 0.5, minRuns: 10, windowMs: 120_000, openMs: 60_000 },
  };

  it('shows a banner of paused processors and open circuits, and the processors with their state', async () => {
    const api = fakeOpsApi({ circuits: [OPEN] });
    await api.pause('bank_stmt_v1', `vendor down ${HOSTILE}`, OPERATOR);
    const server = await page(api);
    const res = await server.inject({ url: '/ops' });
    expect(res.statusCode).toBe(200);
    const banner = /<section class="banner bad"[\s\S]*?<\/section>/.exec(res.body)?.[0] ?? '';
    expect(banner).toContain('1 processor paused, 1 circuit open');
    expect(banner).toContain('href="/ops/p/bank_stmt_v1"');
    expect(banner).toContain(`paused by\n            ops@example.com`);
    expect(banner).toContain(escapeHtml(`vendor down ${HOSTILE}`));
    expect(banner).toMatch(/circuit open since[\s\S]*9 of 12/);
    expect(res.body).toMatch(
      /href="\/ops\/p\/bank_stmt_v1"\s*>bank_stmt_v1<\/a>[\s\S]*?badge b-paused">paused</,
    );
    expect(res.body).toContain('badge b-circuit_open">circuit open<');
    expect(res.body).toMatch(/Last hour[\s\S]*Last 24 hours/);
    expect(res.body).toContain('<h2 id="audit">Operator actions</h2>');
    expect(res.body).toMatch(/paused <a href="\/ops\/p\/bank_stmt_v1"><code>bank_stmt_v1<\/code><\/a>/);
    expect(res.body).not.toMatch(/<script>|<style|style=|onclick=/);
    expect(res.body).not.toContain('<img src=x');
  });

  it('shows no banner when nothing is paused or open', async () => {
    const res = await (await page(fakeOpsApi())).inject({ url: '/ops' });
    expect(res.body).not.toContain('class="banner');
  });

  it('gives operators the pause and bulk re-run forms of a processor, and readers neither', async () => {
    const api = fakeOpsApi();
    const asOperator = await (await page(api)).inject({ url: '/ops/p/bank_stmt_v1' });
    expect(asOperator.body).toContain('action="/ops/p/bank_stmt_v1/pause"');
    expect(asOperator.body).toContain('action="/ops/p/bank_stmt_v1/reruns"');
    expect(asOperator.body).toContain('Count (dry run)');
    await app?.close();
    const asReader = await (await page(api, READER)).inject({ url: '/ops/p/bank_stmt_v1' });
    expect(asReader.statusCode).toBe(200);
    expect(asReader.body).not.toContain('<form method="post"');
    expect(asReader.body).toContain('need the operator role');
  });

  it('pauses and resumes through the form, redirecting to the processor page, which says so', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const paused = await server.inject({
      method: 'POST',
      url: '/ops/p/bank_stmt_v1/pause',
      headers: SAME_ORIGIN,
      payload: form([['reason', 'INC-7: the bank API answers 503']]),
    });
    expect(paused.statusCode).toBe(303);
    expect(paused.headers.location).toBe('/ops/p/bank_stmt_v1?done=paused');
    const shown = await server.inject({ url: paused.headers.location });
    expect(shown.body).toContain('Paused. Every instance stops calling it');
    expect(shown.body).toContain('action="/ops/p/bank_stmt_v1/resume"');
    expect(api.trail.map((e) => [e.action, e.subject, e.reason, e.by])).toEqual([
      ['pause', 'bank_stmt_v1', 'INC-7: the bank API answers 503', OPERATOR.email],
    ]);
    const resumed = await server.inject({
      method: 'POST',
      url: '/ops/p/bank_stmt_v1/resume',
      headers: SAME_ORIGIN,
      payload: form([['reason', '']]),
    });
    expect(resumed.headers.location).toBe('/ops/p/bank_stmt_v1?done=resumed');
    expect(api.trail.at(-1)).toMatchObject({ action: 'resume', reason: null });
  });

  it('asks for a reason before pausing, and says why it could not pause', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const noReason = await server.inject({
      method: 'POST',
      url: '/ops/p/bank_stmt_v1/pause',
      headers: SAME_ORIGIN,
      payload: form([]),
    });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.body).toContain('Give a reason for the pause');
    const unknown = await server.inject({
      method: 'POST',
      url: '/ops/p/nope_v1/pause',
      headers: SAME_ORIGIN,
      payload: form([['reason', 'x']]),
    });
    expect(unknown.statusCode).toBe(404);
    expect(api.trail).toEqual([]);
  });

  it('refuses a pause, bulk re-run or cancel from another site, or from a reader', async () => {
    const api = fakeOpsApi();
    const job = await api.bulkRerun(
      {
        processors: ['bank_stmt_v1'],
        status: 'failed',
        since: '2026-11-30T00:00:00.000Z',
        reason: 'r',
        dry_run: false,
      },
      OPERATOR,
      undefined,
    );
    const jobId = 'job' in job ? job.job.id : '';
    for (const url of [
      '/ops/p/bank_stmt_v1/pause',
      '/ops/p/bank_stmt_v1/reruns',
      `/ops/jobs/${jobId}/cancel`,
    ]) {
      const server = await page(api);
      const crossSite = await server.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
        payload: form([['reason', 'x']]),
      });
      expect(crossSite.statusCode, url).toBe(403);
      await app?.close();
      const asReader = await (
        await page(api, READER)
      ).inject({ method: 'POST', url, headers: SAME_ORIGIN, payload: form([['reason', 'x']]) });
      expect(asReader.statusCode, url).toBe(403);
      expect(asReader.body).toContain('may read but not');
      await app?.close();
      app = undefined;
    }
    expect(api.trail.map((e) => e.action)).toEqual(['rerun_job']);
    expect((await api.job(jobId)).job.state).not.toBe('cancelled');
  });

  it('re-runs failed since…: a dry-run count first, then the job, once, with the key minted for that count', async () => {
    const api = fakeOpsApi();
    const server = await page(api);
    const counted = await server.inject({
      method: 'POST',
      url: '/ops/p/bank_stmt_v1/reruns',
      headers: SAME_ORIGIN,
      payload: form([
        ['step', 'preview'],
        ['status', 'failed'],
        ['since', '24h'],
        ['error_code', ''],
        ['reason', 'bank API back'],
      ]),
    });
    expect(counted.statusCode).toBe(200);
    expect(api.bulk.at(-1)).toMatchObject({
      request: { processors: ['bank_stmt_v1'], status: 'failed', dry_run: true, reason: 'bank API back' },
    });
    expect(counted.body).toMatch(/<strong>2 underwritings<\/strong>\s+would be re-run/);
    expect(counted.body).toContain('href="/ops/u/uw_1001"');
    expect(counted.body).toContain('Re-run 2 underwritings');
    const fields: Record<string, string> = Object.fromEntries(
      [...counted.body.matchAll(/<input type="hidden" name="([a-z_]+)" value="([^"]*)"/g)].map(
        ([, n, v]) => [n ?? '', v ?? ''] as const,
      ),
    );
    expect(fields).toMatchObject({
      step: 'confirm',
      status: 'failed',
      since: '24h',
      reason: 'bank API back',
    });
    expect(fields['key']).toMatch(/^[0-9A-Z]{26}$/);
    const confirm = () =>
      server.inject({
        method: 'POST',
        url: '/ops/p/bank_stmt_v1/reruns',
        headers: SAME_ORIGIN,
        payload: form(Object.entries(fields)),
      });
    const started = await confirm();
    expect(started.statusCode).toBe(303);
    expect(started.headers.location).toBe('/ops/jobs/job1?done=created');
    expect(api.bulk.at(-1)).toMatchObject({
      key: fields['key'],
      request: { dry_run: false, since: fields['since_at'], until: fields['until_at'] },
    });
    // A second click of the same confirmation finds the same job.
    expect((await confirm()).headers.location).toBe('/ops/jobs/job1?done=again');

    const progress = await server.inject({ url: '/ops/jobs/job1?done=created' });
    expect(progress.body).toContain('Bulk re-run started.');
    expect(progress.body).toContain('data-refresh-seconds="3"');
    expect(progress.body).toMatch(/<span class="n">2<\/span><span class="l">selected<\/span>/);
    expect(progress.body).toContain('action="/ops/jobs/job1/cancel"');
    const cancelled = await server.inject({
      method: 'POST',
      url: '/ops/jobs/job1/cancel',
      headers: SAME_ORIGIN,
      payload: form([['reason', 'stop']]),
    });
    expect(cancelled.headers.location).toBe('/ops/jobs/job1?done=cancelled');
    const after = await server.inject({ url: cancelled.headers.location });
    expect(after.body).toContain('badge b-cancelled');
    expect(after.body).not.toContain('action="/ops/jobs/job1/cancel"');
    expect(api.trail.map((e) => e.action)).toEqual(['rerun_job', 'rerun_job_cancel']);
  });

  it('asks for a reason before counting, and says when nothing matches', async () => {
    const server = await page(fakeOpsApi());
    const post = (fields: [string, string][]) =>
      server.inject({
        method: 'POST',
        url: '/ops/p/bank_stmt_v1/reruns',
        headers: SAME_ORIGIN,
        payload: form(fields),
      });
    const noReason = await post([
      ['step', 'preview'],
      ['since', '6h'],
    ]);
    expect(noReason.statusCode).toBe(400);
    expect(noReason.body).toContain('Give a reason for the re-run');
    const nothing = await post([
      ['step', 'preview'],
      ['since', '6h'],
      ['status', 'timeout'],
      ['reason', 'r'],
    ]);
    expect(nothing.body).toContain('Nothing to re-run');
    expect(nothing.body).not.toContain('name="step" value="confirm"');
  });
});
