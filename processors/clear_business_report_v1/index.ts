/**
 * clear_business_report_v1: public-record risk of the business, from an external business
 * report API.
 *
 * Configuration (environment, read when a run starts; worker threads inherit it):
 * - `CLEAR_REPORT_URL`: the API's base URL. Not set → the run fails with
 *   `CLEAR_REPORT_URL is not configured`.
 * - `CLEAR_REPORT_API_KEY`: optional, sent as `Authorization: Bearer …`; never logged.
 * - `CLEAR_REPORT_TIMEOUT_MS`: how long the API may take to answer (default 10000).
 *
 * The business is named by the `business_name` and `state` metadata of its business documents
 * (`certificate_of_good_standing`, `business_registration`, `articles_of_incorporation`,
 * `articles_of_organization`, in that order of authority); the run fails without them. It calls
 * `GET {CLEAR_REPORT_URL}/v1/business-reports?name=…&state=…` and expects the JSON described by
 * `BusinessReportSchema` in `report.ts`. A 429, a 5xx or an unreachable API is retryable: the run
 * is tried again (3 attempts in all, full-jitter backoff from 500 ms, or the API's `Retry-After`)
 * and fails with the last message after that. Any other status, an invalid body or no answer in
 * time fails the run with a message saying which; the processor's own deadline aborts the
 * request and the run is reported as TIMEOUT. At most 5 runs call the API at once per instance
 * (`concurrency` key `clear_report_api`). When half or more of at least 10 runs that ended in the
 * last 2 minutes failed or timed out, the API is taken to be down: for 1 minute runs fail at once
 * with `PROCESSOR_CIRCUIT_OPEN` instead of waiting out 3 attempts of up to 30 s each, then one
 * trial run decides (`circuit`).
 *
 * Factors: see {@link BusinessReportFactors}.
 *
 * @packageDocumentation
 */
import { defineProcessor } from '@processor-orchestrator/sdk';

import { businessOf } from './business.js';
import { readReportConfig } from './config.js';
import { fetchReport } from './report.js';

/** What clear_business_report_v1 reports. */
export type BusinessReportFactors = {
  /** 0 (no risk) to 100, as the API scores it. */
  clear_risk_score: number;
  lien_count: number;
  judgment_count: number;
  bankruptcy_count: number;
  /** At least one bankruptcy on record. */
  bankruptcy_flag: boolean;
  /** null when the API does not report UCC filings. */
  ucc_filing_count: number | null;
  /** The API's id of the report, or null. */
  clear_report_id: string | null;
  /** The name and state the report was asked for. */
  report_business_name: string;
  report_state: string;
};

export default defineProcessor({
  id: 'clear_business_report_v1',
  version: '1.0.0',
  timeoutMs: 30_000,
  retry: { attempts: 3, backoffMs: 500, maxBackoffMs: 5_000 },
  concurrency: { limit: 5, key: 'clear_report_api' },
  circuit: { failureRate: 0.5, minRuns: 10, windowMs: 120_000, openMs: 60_000 },
  async execute(ctx): Promise<{ factors: BusinessReportFactors }> {
    const config = readReportConfig();
    const business = businessOf(ctx.documents);
    const report = await fetchReport(config, business, ctx.signal);
    ctx.log.info({ state: business.state, risk_score: report.risk_score }, 'business report received');
    return {
      factors: {
        clear_risk_score: report.risk_score,
        lien_count: report.liens,
        judgment_count: report.judgments,
        bankruptcy_count: report.bankruptcies,
        bankruptcy_flag: report.bankruptcies > 0,
        ucc_filing_count: report.ucc_filings ?? null,
        clear_report_id: report.report_id ?? null,
        report_business_name: business.name,
        report_state: business.state,
      },
    };
  },
});
