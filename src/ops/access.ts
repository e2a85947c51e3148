// Who may act under /ops, and from where: the one check every request to act makes before it is
// read, the JSON routes (routes.ts) and the page's forms (page-http.ts) alike. Each answers a
// refusal in its own way (JSON or a page, 403 either way); the decision is made here.
//
// Acting (a re-run, a pause or resume, a bulk re-run, a cancel) needs both:
// - the operator role (`OPS_OPERATORS`); a reader may read everything and act on nothing;
// - a request from our own origin (same-origin.ts): the JSON API by its `CSRF_HEADER`, a form by
//   what the browser says of it (`Sec-Fetch-Site`, else `Origin`).
// A form is judged by its origin first: a forged post is refused as such, whoever's session it
// rides. A script is told its role first: an API caller's usual mistake is the list it is on.
import type { IncomingHttpHeaders } from 'node:http';

import { crossSiteReason, missingMarkerReason } from './same-origin.js';
import type { OpsIdentity } from './views.js';

/** How a request to act arrives: the JSON API, or a form posted by the page. */
export type ActChannel = 'api' | 'form';

/** Why a request to act is refused (always 403): the caller's role, or where the request came from. */
export interface ActRefusal {
  check: 'operator' | 'same-origin';
  reason: string;
}

/** Whether this caller may act (and so sees the page's forms). */
export function isOperator(identity: Pick<OpsIdentity, 'role'> | undefined): boolean {
  return identity?.role === 'operator';
}

/**
 * Why `identity` may not do `what` ("re-run", "pause", "resume", "cancel") by a request with these
 * headers, arriving through `channel`; `undefined` when it may.
 */
export function actRefusal(
  identity: OpsIdentity,
  headers: IncomingHttpHeaders,
  channel: ActChannel,
  what: string,
): ActRefusal | undefined {
  const role = (): ActRefusal | undefined => {
    if (isOperator(identity)) return undefined;
    const reason =
      channel === 'api'
        ? `${identity.email} is a reader; only OPS_OPERATORS may re-run, pause, resume or cancel`
        : `${identity.email} may read but not ${what}`;
    return { check: 'operator', reason };
  };
  const origin = (): ActRefusal | undefined => {
    const reason = channel === 'api' ? missingMarkerReason(headers) : crossSiteReason(headers);
    return reason === undefined ? undefined : { check: 'same-origin', reason };
  };
  return channel === 'api' ? (role() ?? origin()) : (origin() ?? role());
}
