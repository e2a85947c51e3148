// The outage tools of the /ops page in Debian's chromium: the banner (paused processors, open
// circuits), the processors table, pausing and resuming through the form, finding the runs it
// failed, and "re-run failed since…" (a dry-run count, the confirmation, the job's progress).
// Screenshots land in test-output/ops/.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { launchChromium, openTab, type TestBrowser } from '../helpers/browser.js';
import { repoRoot } from '../helpers/fixtures.js';
import { OPERATOR, fakeOpsApi, servePage } from '../helpers/ops.js';
import { resultsOf, runCount, serveTally, until, type TallyServe } from '../helpers/ops-service.js';
import { uniqueName } from '../helpers/pubsub.js';

const SCREENSHOTS = join(repoRoot, 'test-output', 'ops');
const pubsubHost = inject('pubsubEmulatorHost');
const firestoreHost = inject('firestoreEmulatorHost');

let browser: TestBrowser;

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
});

describe('the outage banner in chromium, over an in-test OpsApi', () => {
  let app: FastifyInstance | undefined;
  afterAll(async () => {
    await app?.close();
  });

  it('lists a paused processor and an open circuit, linking to each', async () => {
    const api = fakeOpsApi({
      circuits: [
        {
          processor_id: 'clear_business_report_v1',
          state: 'open',
          since: '2026-11-30T11:58:00.000Z',
          until: '2026-11-30T11:59:00.000Z',
          runs: 12,
          failures: 9,
          policy: { failureRate: 0.5, minRuns: 10, windowMs: 120_000, openMs: 60_000 },
        },
      ],
    });
    await api.pause('bank_stmt_v1', 'The bank data API answers 503 (INC-42)', OPERATOR);
    const served = await servePage(api, () => OPERATOR);
    app = served.app;
    const { page, errors } = await openTab(browser);
    await page.goto(`${served.base}/ops`);
    const banner = page.getByRole('status').filter({ hasText: 'paused' }).first();
    await expect.poll(() => banner.textContent()).toMatch(/1 processor paused, 1 circuit open/);
    expect(await banner.textContent()).toMatch(/bank_stmt_v1\s+paused by\s+ops@example\.com/);
    expect(await banner.textContent()).toMatch(/clear_business_report_v1\s+circuit open since[\s\S]*9 of 12/);
    const rows = page.locator('section[aria-labelledby="processors"] tbody tr');
    await expect.poll(() => rows.filter({ hasText: 'bank_stmt_v1' }).textContent()).toMatch(/paused/);
    await expect
      .poll(() => rows.filter({ hasText: 'clear_business_report_v1' }).textContent())
      .toMatch(/circuit open/);
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-banner-fake-api.png'), fullPage: true });
    await banner.getByRole('link', { name: 'clear_business_report_v1' }).click();
    await page.waitForURL(/\/ops\/p\/clear_business_report_v1$/);
    await expect.poll(() => page.locator('dl.meta').textContent()).toMatch(/open since[\s\S]*next trial at/);
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('the outage tools in chromium, on a running service (Pub/Sub and Firestore emulators)', () => {
  let running: TallyServe | undefined;

  afterAll(async () => {
    await running?.close();
  });

  it('pauses a processor through the form, shows it in the banner and the table, finds its runs, resumes, and re-runs them in bulk', async () => {
    running = await serveTally({ pubsub: pubsubHost, firestore: firestoreHost });
    const { pubsub, inTopic, completed, tallyFile, base } = running;
    const publish = async (ids: string[]) => {
      for (const id of ids) {
        await pubsub.topic(inTopic).publishMessage({
          json: {
            event: 'underwriting.created',
            data: {
              underwriting_id: id,
              documents: ['doc_001'],
              purchased_processors: ['fx_tally', 'fx_tally_slow'],
            },
          },
        });
      }
      await until('their results', () =>
        Promise.resolve(ids.every((id) => resultsOf(completed, id).length > 0) || undefined),
      );
    };
    await publish([uniqueName('uw_before').replace(/-/g, '_')]);

    const { page, errors, dialogs } = await openTab(browser);
    await page.goto(`${base}/ops`);
    const table = page.locator('section[aria-labelledby="processors"]');
    await expect
      .poll(() => table.locator('tbody tr').filter({ hasText: 'fx_tally' }).first().textContent())
      .toMatch(/active/);
    expect(await page.locator('.banner').count()).toBe(0);
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-1-processors.png'), fullPage: true });

    // Pause it through its page.
    await table.getByRole('link', { name: 'fx_tally', exact: true }).click();
    await page.waitForURL(/\/ops\/p\/fx_tally$/);
    await page.locator('#pause-reason').fill('Vendor outage INC-9');
    await page.getByRole('button', { name: 'Pause fx_tally' }).click();
    await page.waitForURL(/\/ops\/p\/fx_tally\?done=paused$/);
    await page.getByText('Paused. Every instance stops calling it').waitFor();
    await expect
      .poll(() => page.locator('.banner').textContent())
      .toMatch(/fx_tally\s+paused by\s+anonymous[\s\S]*Vendor outage INC-9/);
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-2-paused.png'), fullPage: true });

    // Events still publish; the paused processor is never called.
    const ids = [1, 2, 3].map((n) => uniqueName(`uw_outage_${n}`).replace(/-/g, '_'));
    await publish(ids);
    for (const id of ids) expect(await runCount(tallyFile, 'fx_tally', id)).toBe(0);
    // The figures are cached for 5 s: reload until they count the three runs not called.
    const row = page
      .locator('section[aria-labelledby="processors"] tbody tr')
      .filter({ hasText: 'fx_tally' })
      .first();
    await expect
      .poll(
        async () => {
          await page.goto(`${base}/ops`);
          return row.textContent();
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toMatch(/paused[\s\S]*\+3 not called/);
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-3-banner.png'), fullPage: true });

    // Find them by their code.
    await page.getByLabel('Error code').selectOption('PROCESSOR_PAUSED');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/error_code=PROCESSOR_PAUSED/);
    const found = page.locator('section[aria-labelledby="recent"] tbody th a');
    await expect.poll(async () => (await found.allTextContents()).sort()).toEqual([...ids].sort());
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-4-find-runs.png'), fullPage: true });

    // Resume, then re-run them: the count first.
    await page.goto(`${base}/ops/p/fx_tally`);
    await page.getByRole('button', { name: 'Resume fx_tally' }).click();
    await page.waitForURL(/done=resumed$/);
    expect(await page.locator('.banner').count()).toBe(0);
    await page.getByLabel('Since', { exact: true }).selectOption('1h');
    await page.locator('#bulk-reason').fill('INC-9 is over');
    await page.getByRole('button', { name: 'Count (dry run)' }).click();
    await page.getByText(/3 underwritings\s+would be re-run/).waitFor();
    await page.locator('#dry-run').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-5-dry-run.png'), fullPage: true });
    await page.getByRole('button', { name: 'Re-run 3 underwritings' }).click();
    await page.waitForURL(/\/ops\/jobs\/[0-9a-f]{64}\?done=created$/);
    // The job's page reloads itself until the job is over.
    await page.locator('.badge.b-done').waitFor({ timeout: 120_000 });
    await expect
      .poll(() => page.locator('.counts').textContent())
      .toMatch(/3\s*selected\s*3\s*requested\s*3\s*finished\s*0\s*failed/);
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-6-job.png'), fullPage: true });
    for (const id of ids) {
      expect(await runCount(tallyFile, 'fx_tally', id)).toBe(1);
      expect(await runCount(tallyFile, 'fx_tally_slow', id)).toBe(1);
      expect(resultsOf(completed, id).at(-1)?.event).toMatchObject({
        overall_status: 'success',
      });
    }

    // The trail of what the operator did.
    await page.goto(`${base}/ops`);
    const audit = page.locator('section[aria-labelledby="audit"] tbody tr');
    await expect
      .poll(() => audit.allTextContents())
      .toEqual([
        expect.stringMatching(/started a bulk re-run[\s\S]*INC-9 is over/),
        expect.stringMatching(/resumed\s+fx_tally/),
        expect.stringMatching(/paused\s+fx_tally[\s\S]*Vendor outage INC-9/),
      ]);
    await page.locator('section[aria-labelledby="jobs"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOTS, 'outage-7-jobs-and-audit.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(dialogs).toEqual([]);
    await page.close();
  }, 300_000);
});
