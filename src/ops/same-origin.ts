// Whether a request to act came from our own origin: the same-origin half of access.ts's check.
// Two channels, one rule (another site must not be able to make an operator's browser act):
//
// The JSON API (`POST /ops/...` with a JSON body) must carry `CSRF_HEADER`. A cross-site form cannot
// set a header, and a cross-site script that tries is stopped by the CORS preflight this service
// never answers: with IAP's browser session, a forged re-run cannot pass. (The API also takes JSON
// only: a form post, what a cross-site page can send, is 415.)
//
// The page's forms cannot set a header either; they are guarded by what the browser itself says
// about the request, not by a token: a token would need a secret shared by every instance (a form
// served by one Cloud Run instance is often posted to another), and the browser's word cannot be
// forged by another site.
//
// Protocol for a form, in order:
// 1. `Sec-Fetch-Site` (sent by every current browser): only `same-origin` is accepted. A form on
//    another site, even a subdomain (`same-site`), or a request the user did not start from our
//    page (`none`) is refused.
// 2. Without it, `Origin` (sent on every POST by browsers since 2020) must name this host, as the
//    `Host` header does. `Origin: null` (sandboxed frames, privacy redirects) is refused.
// 3. With neither, the request is refused: it is not from a browser form, and scripts use the JSON
//    API (`POST /ops/underwritings/{id}/rerun`), which needs no cookie and so cannot be forged.
// The page sends `Referrer-Policy: same-origin`, which keeps browsers sending `Origin` on its own
// POSTs (`no-referrer` would turn it into `null`). A cross-site form cannot set custom headers
// without a CORS preflight, which these routes never answer.

/**
 * The header every JSON `POST` under `/ops` must carry (any non-empty value; the CLI sends
 * `processor-orchestrator-cli`).
 */
export const CSRF_HEADER = 'x-requested-with';

/** Why a JSON request to act may have come from another site (it lacks `CSRF_HEADER`), or `undefined`. */
export function missingMarkerReason(
  headers: Record<string, string | string[] | undefined>,
): string | undefined {
  const marker = headers[CSRF_HEADER];
  if (typeof marker !== 'string' || marker.trim() === '') {
    return `a request to act must carry the ${CSRF_HEADER} header (it keeps other sites from posting one)`;
  }
  return undefined;
}

/** The headers this check reads, lower-case as Node gives them. */
export interface RequestHeaders {
  host?: string | undefined;
  origin?: string | undefined;
  'sec-fetch-site'?: string | undefined;
}

/** Why a form post must be refused as cross-site, or `undefined` when it is ours. */
export function crossSiteReason(headers: RequestHeaders): string | undefined {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) {
    return site === 'same-origin'
      ? undefined
      : `the request came from another site (Sec-Fetch-Site: ${site})`;
  }
  const origin = headers.origin;
  if (origin === undefined) {
    return 'the request says neither where it came from (Origin) nor whether it is same-origin (Sec-Fetch-Site); scripts use the JSON API';
  }
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `the request came from an unknown origin (${origin})`;
  }
  if (host === '' || headers.host === undefined || host !== headers.host.toLowerCase()) {
    return `the request came from another origin (${origin})`;
  }
  return undefined;
}
