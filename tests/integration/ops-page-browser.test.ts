import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';
import type { Dialog, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { repoRoot } from '../helpers/fixtures.js';
import { OPERATOR, fakeOpsApi, servePage } from '../helpers/ops.js';

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

/** A new tab that records every dialog (and dismisses it) and every script error. */
async function openTab(): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const page = await browser.context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (dialog: Dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return { page, dialogs, errors };
}

describe('the /ops page in chromium, over an in-test OpsApi', () => {
  it('shows a hostile error message as text, inert, under a strict CSP', async () => {
    const { page, dialogs, errors } = await openTab();
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
  });

  it('lets an operator find a partially failed underwriting, re-run what failed and see the result', async () => {
    const { page, dialogs, errors } = await openTab();
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

    await expect.poll(() => page.getByRole('checkbox', { name: /did not complete/ }).isChecked()).toBe(true);
    await page.getByLabel('Reason (recorded with your name)').fill('The bank API is back');
    await page.getByRole('button', { name: 'Re-run' }).click();
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
  });
});
