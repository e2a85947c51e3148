/** How to reach the business report API, read from the environment when a run starts. */
export interface ReportConfig {
  /** `CLEAR_REPORT_URL`: the API's base URL. */
  readonly baseUrl: URL;
  /** `CLEAR_REPORT_API_KEY`: sent as `Authorization: Bearer …` when set. Never logged. */
  readonly apiKey: string | undefined;
  /** `CLEAR_REPORT_TIMEOUT_MS`: how long one request may take. */
  readonly timeoutMs: number;
}

export const DEFAULTS = { CLEAR_REPORT_TIMEOUT_MS: 10_000 } as const;
const MAX_TIMEOUT_MS = 3_600_000;

/**
 * Reads `CLEAR_REPORT_URL`, `CLEAR_REPORT_API_KEY` and `CLEAR_REPORT_TIMEOUT_MS`. Throws an Error
 * naming the variable when one is missing or invalid; empty values count as not set.
 */
export function readReportConfig(env: NodeJS.ProcessEnv = process.env): ReportConfig {
  const url = env['CLEAR_REPORT_URL'] || undefined;
  if (url === undefined) throw new Error('CLEAR_REPORT_URL is not configured');
  let baseUrl: URL;
  try {
    baseUrl = new URL(url);
  } catch {
    throw new Error(`CLEAR_REPORT_URL is not a URL: ${JSON.stringify(url)}`);
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
    throw new Error(`CLEAR_REPORT_URL must be an http(s) URL, got ${baseUrl.protocol}`);
  }

  const timeout = env['CLEAR_REPORT_TIMEOUT_MS'] || String(DEFAULTS.CLEAR_REPORT_TIMEOUT_MS);
  const timeoutMs = Number(timeout);
  if (!/^\d+$/.test(timeout) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new Error(
      `CLEAR_REPORT_TIMEOUT_MS must be milliseconds from 1 to ${MAX_TIMEOUT_MS}, got "${timeout}"`,
    );
  }
  return { baseUrl, apiKey: env['CLEAR_REPORT_API_KEY'] || undefined, timeoutMs };
}
