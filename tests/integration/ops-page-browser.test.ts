import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import {
  CHROMIUM_INSTALL,
  ensureChromium,
  launchChromium,
  openTab,
  type TestBrowser,
} from '../helpers/browser.js';
import { repoRoot } from '../helpers/fixtures.js';
import { OPERATOR, fakeOpsApi, servePage } from '../helpers/ops.js';
import { serveTally, type TallyServe } from '../helpers/ops-service.js';
import { uniqueName } from '../helpers/pubsub.js';

const SCREENSHOTS = join(repoRoot, 'test-output', 'ops');

const HOSTILE =
  `<script>window.__pwned = 'script'; alert('script')</script>` +
  `<img src=x onerror="window.__pwned = 'img'; alert('img')"> and the rest of the message`;

let browser: TestBrowser;
let app: FastifyInstance;
let base: string;
const api = fakeOpsApi({ finishReruns: true });

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  // Installing chromium (first run on a new machine) takes minutes.
  browser = await launchChromium();
  const latest = (await api.underwriting('uw_1004')).executions[0]!;
  api.record({
    ...latest,
    key: 'msg-hostile',
    underwriting_id: 'uw_hostile',
    processors: latest.processors.map((p) => ({ ...p, error_message: HOSTILE })),
  });
  ({ app, base } = await servePage(api, () => OPERATOR));
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('chromium for the browser test', () => {
  it('fails, saying how to install it, when it is missing and cannot be installed', async () => {
    const missing = ensureChromium({
      path: '/nonexistent/chromium',
      install: 'echo "no network" >&2; exit 100',
    });
    await expect(missing).rejects.toThrow(
      /could not be installed \(exited with 100; last output:\nno network/,
    );
    await expect(missing).rejects.toThrow(CHROMIUM_INSTALL);
  });
});

describe('the /ops page in chromium, over an in-test OpsApi', () => {
  it('shows a hostile error message as text, inert, under a strict CSP', async () => {
    const { page, dialogs, errors } = await openTab(browser);
    const response = await page.goto(`${base}/ops/u/uw_hostile`);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    const message = page.locator('pre.err').first();
    await expect.poll(() => message.textContent()).toBe(HOSTILE);
    expect(await message.isVisible()).toBe(true);
    expect(await page.locator('main script, main img').count()).toBe(0);
    // Give an `onerror` the chance to run that it would have had: the page and its images are loaded.
    await page.waitForLoadState('load');
    expect(await page.evaluate('typeof window.__pwned')).toBe('undefined');
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'hostile-error.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('lets an operator find a partially failed underwriting, re-run what failed by keyboard and see the result', async () => {
    const { page, dialogs, errors } = await openTab(browser);
    await page.goto(`${base}/ops`);
    await page.getByLabel('Status').selectOption('partial_success');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/status=partial_success/);
    await page.screenshot({ path: join(SCREENSHOTS, 'list-fake-api.png'), fullPage: true });
    await page.getByRole('link', { name: 'uw_1001' }).click();
    await page.waitForURL(/\/ops\/u\/uw_1001$/);
    await expect
      .poll(() => page.locator('pre.err').first().textContent())
      .toBe('upstream answered 503 (run 3)');
    // The execution ids under each processor read as easily as the code beside them (15 px text).
    const idsPx = await page.evaluate(
      "parseFloat(getComputedStyle(document.querySelector('.ids')).fontSize)",
    );
    expect(idsPx).toBeGreaterThanOrEqual(13);

    await expect.poll(() => page.getByRole('checkbox', { name: /did not complete/ }).isChecked()).toBe(true);
    await page.getByLabel('Reason (recorded with your name)').fill('The bank API is back');
    // By keyboard: from the reason, Tab reaches the button and Enter submits.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Re-run');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\?rerun=/);
    expect(api.reruns.map((r) => r.request)).toEqual([
      { processors: 'failed', reason: 'The bank API is back' },
    ]);
    // The page reloads itself until the re-run's result is in.
    await page.getByText(/Re-run .* finished/).waitFor();
    await expect
      .poll(() => page.locator('h2').first().textContent())
      .toMatch(/Re-run\s+rerun-uw_1001-1\s+success/);
    await page.screenshot({ path: join(SCREENSHOTS, 'rerun-fake-api.png'), fullPage: true });
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('the /ops page in chromium, on a running service (Pub/Sub and Firestore emulators)', () => {
  const pubsubHost = inject('pubsubEmulatorHost');
  const firestoreHost = inject('firestoreEmulatorHost');
  let running: TallyServe | undefined;

  afterAll(async () => {
    await running?.close();
  });

  it('finds a partially failed underwriting, re-runs its failed processor through the form and shows the new result', async () => {
    // fx_fail_once fails its first run for an underwriting (with `<script>` in its error) and
    // completes on the next; both count their runs in the tally file.
    running = await serveTally({ pubsub: pubsubHost, firestore: firestoreHost });
    const { pubsub, inTopic, completed, tallyFile, base } = running;

    const partial = uniqueName('uw-partial');
    const fine = uniqueName('uw-fine');
    const topic = pubsub.topic(inTopic);
    for (const [id, processors] of [
      [fine, ['fx_tally']],
      [partial, ['fx_fail_once', 'fx_tally']],
    ] as const) {
      await topic.publishMessage({
        json: {
          event: 'underwriting.created',
          data: { underwriting_id: id, documents: ['doc_001'], purchased_processors: processors },
        },
      });
    }
    await completed.waitFor(2, 60_000);

    const { page, dialogs, errors } = await openTab(browser);
    const listing = await page.goto(`${base}/ops`);
    expect(listing?.headers()['content-security-policy']).toContain("default-src 'none'");
    await page.getByLabel('Status').selectOption('partial_success');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/status=partial_success/);
    expect(await page.getByRole('link', { name: fine }).count()).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'service-list.png'), fullPage: true });
    await page.getByRole('link', { name: partial }).click();
    await page.waitForURL(new RegExp(`/ops/u/${partial}$`));
    // The error holds `<script>`: shown as text, run never (the listener below would see a dialog).
    await expect
      .poll(() => page.locator('pre.err').first().textContent())
      .toBe('first run fails <script>alert(1)</script>');

    expect(await page.getByRole('checkbox', { name: /did not complete/ }).isChecked()).toBe(true);
    await page.getByLabel('Reason (recorded with your name)').fill('The bank API is back');
    await page.getByRole('button', { name: 'Re-run' }).click();
    await page.waitForURL(/\?rerun=/);
    // The page reloads itself until an instance has taken the re-run and its result is recorded.
    await page.getByText(/Re-run .* finished/).waitFor({ timeout: 60_000 });
    const newest = page.locator('section').filter({ has: page.locator('h2', { hasText: 'latest' }) });
    await expect.poll(() => newest.locator('h2').textContent()).toMatch(/Re-run[\s\S]*success/);
    const rows = newest.locator('tbody tr');
    await expect.poll(() => rows.filter({ hasText: 'fx_fail_once' }).textContent()).toMatch(/completed/);
    await expect.poll(() => rows.filter({ hasText: 'fx_tally' }).textContent()).toMatch(/reused/);
    await page.screenshot({ path: join(SCREENSHOTS, 'service-rerun.png'), fullPage: true });

    const [, , rerun] = await completed.waitFor(3, 30_000);
    const published = JSON.parse(rerun!.data) as Record<string, unknown>;
    expect(published['underwriting_id']).toBe(partial);
    expect(published['overall_status']).toBe('success');
    expect(published['rerun_of']).toEqual(expect.any(String));
    const runs = (await readFile(tallyFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { processor_id: string; underwriting_id: string })
      .filter((run) => run.underwriting_id === partial)
      .map((run) => run.processor_id);
    expect(runs.sort()).toEqual(['fx_fail_once', 'fx_fail_once', 'fx_tally']);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);
});
