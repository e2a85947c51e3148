import { RetryableError } from '@processor-orchestrator/sdk';
import { z } from 'zod';

import type { Business } from './business.js';
import type { ReportConfig } from './config.js';

const count = z.number().int().nonnegative();

/**
 * The body of `GET /v1/business-reports`: a JSON object. Unknown fields are tolerated.
 * - `risk_score`: 0 (no risk) to 100 (highest risk).
 * - `liens`, `judgments`, `bankruptcies`: how many are on record against the business.
 * - `ucc_filings`: UCC filings on record, when the API knows.
 * - `report_id`: the API's id of the report, when it gives one.
 */
export const BusinessReportSchema = z.object({
  risk_score: z.number().min(0).max(100),
  liens: count,
  judgments: count,
  bankruptcies: count,
  ucc_filings: count.optional(),
  report_id: z.string().min(1).optional(),
});
export type BusinessReport = z.infer<typeof BusinessReportSchema>;

/** `{base}/v1/business-reports?name=…&state=…`, keeping any path the base URL has. */
export function reportUrl(baseUrl: URL, business: Business): URL {
  const base = baseUrl.href.endsWith('/') ? baseUrl.href : `${baseUrl.href}/`;
  const url = new URL('v1/business-reports', base);
  url.searchParams.set('name', business.name);
  url.searchParams.set('state', business.state);
  return url;
}

/**
 * Asks the report API about a business. Throws an Error for an answer other than 2xx, a body
 * that is not a valid report, an unreachable API, or no answer within `config.timeoutMs`. When
 * `signal` aborts (the processor's deadline), rethrows the abort as it is.
 */
export async function fetchReport(
  config: ReportConfig,
  business: Business,
  signal: AbortSignal,
): Promise<BusinessReport> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (config.apiKey !== undefined) headers['authorization'] = `Bearer ${config.apiKey}`;
  const response = await get(reportUrl(config.baseUrl, business), headers, signal, config.timeoutMs);
  if (response.status === 429 || response.status >= 500) {
    // Billed per request, but a 429 or 5xx is not a report: ask again later (the policy's retry).
    throw new RetryableError(`report API answered ${response.status}`, {
      retryAfterMs: response.retryAfterMs,
    });
  }
  if (!response.ok) throw new Error(`report API answered ${response.status}`);

  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    throw new Error(`report API answered ${response.status} with a body that is not JSON`);
  }
  const parsed = BusinessReportSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    throw new Error(`report API answered with an invalid report (${problems.join('; ')})`);
  }
  return parsed.data;
}

/** One GET, status and whole body, under both the caller's signal and its own timeout. */
async function get(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<{ ok: boolean; status: number; text: string; retryAfterMs: number | undefined }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.any([signal, timeout]) });
    const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
    return {
      ok: response.ok,
      status: response.status,
      text: await response.text(),
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
    };
  } catch (err) {
    if (signal.aborted) throw err;
    if (timeout.aborted) throw new Error(`report API did not answer within ${timeoutMs} ms`);
    throw new RetryableError(`report API could not be reached: ${causeOf(err)}`, { cause: err });
  }
}

// fetch's own message is only "fetch failed"; the reason (ECONNREFUSED…) is its cause.
function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}
