// The one check every request to act under /ops makes, the JSON routes and the page's forms alike.
import { describe, expect, it } from 'vitest';

import { actRefusal, isOperator } from '../../src/ops/access.js';
import { CSRF_HEADER, missingMarkerReason } from '../../src/ops/same-origin.js';
import type { OpsIdentity } from '../../src/ops/views.js';

const OPERATOR: OpsIdentity = { email: 'op@example.com', role: 'operator' };
const READER: OpsIdentity = { email: 'reader@example.com', role: 'reader' };
const MARKED = { [CSRF_HEADER]: 'cli' };
const OURS = { 'sec-fetch-site': 'same-origin', host: 'a.example' };
const FORGED = { 'sec-fetch-site': 'cross-site', host: 'a.example' };

describe('who may act, and from where', () => {
  it.each([
    // channel, who, headers, refused by, reason
    ['api', OPERATOR, MARKED, undefined, undefined],
    ['api', OPERATOR, {}, 'same-origin', /must carry the x-requested-with header/],
    ['api', OPERATOR, { [CSRF_HEADER]: '  ' }, 'same-origin', /must carry/],
    ['api', READER, MARKED, 'operator', /^reader@example.com is a reader; only OPS_OPERATORS may/],
    // A script is told its role first.
    ['api', READER, {}, 'operator', /is a reader/],
    ['form', OPERATOR, OURS, undefined, undefined],
    ['form', OPERATOR, { origin: 'https://a.example', host: 'a.example' }, undefined, undefined],
    ['form', OPERATOR, FORGED, 'same-origin', /another site/],
    // The API's header opens no form.
    ['form', OPERATOR, MARKED, 'same-origin', /neither/],
    ['form', READER, OURS, 'operator', /^reader@example.com may read but not pause$/],
    // A forged post is refused as such, whoever's session it rides.
    ['form', READER, FORGED, 'same-origin', /another site/],
  ] as const)('%s, %o, %o: %s', (channel, who, headers, check, reason) => {
    const refusal = actRefusal(who, headers, channel, 'pause');
    expect(refusal?.check).toBe(check);
    if (reason) expect(refusal?.reason).toMatch(reason);
  });

  it('shows the forms to operators only', () => {
    expect(isOperator(OPERATOR)).toBe(true);
    expect(isOperator(READER)).toBe(false);
    expect(isOperator(undefined)).toBe(false);
  });

  it('needs a non-empty CSRF header on the JSON API', () => {
    expect(missingMarkerReason({ [CSRF_HEADER]: 'processor-orchestrator-cli' })).toBeUndefined();
    expect(missingMarkerReason({ [CSRF_HEADER]: ['a', 'b'] })).toMatch(/must carry/);
  });
});
