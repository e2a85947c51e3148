// What a bulk re-run request decides, each a table: what it selects, whether the selection can be a
// job, the job it becomes, whether a repeated Idempotency-Key asks for the same job, and a cancel.
import { describe, expect, it } from 'vitest';

import { OrchestratorError } from '../../src/errors.js';
import { NO_COUNTS, type StoredRerunJob } from '../../src/ledger/ops-records.js';
import {
  cancelOf,
  newJob,
  publicJob,
  sameRequest,
  selectionOf,
  selectionRefusal,
} from '../../src/ops/bulk-plan.js';
import type { Candidate } from '../../src/ops/selection.js';
import type { BulkRerunRequest, OpsIdentity } from '../../src/ops/views.js';

const OP: OpsIdentity = { email: 'op@example.com', role: 'operator' };
const NOW = Date.parse('2026-12-06T12:00:00.000Z');
const request = (r: Partial<BulkRerunRequest> = {}): BulkRerunRequest => ({
  processors: ['p1', 'p2', 'p1'],
  status: 'failed',
  since: '2026-12-06T06:00:00.000Z',
  reason: 'INC-9 is over',
  dry_run: false,
  ...r,
});
const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    return err instanceof OrchestratorError ? err.code : 'not an OrchestratorError';
  }
  return undefined;
};

describe('a bulk re-run request', () => {
  it('selects its processors once each, until now unless it says', () => {
    expect(selectionOf(request(), NOW)).toEqual({
      processors: ['p1', 'p2'],
      status: 'failed',
      since: '2026-12-06T06:00:00.000Z',
      until: '2026-12-06T12:00:00.000Z',
      error_code: null,
      error_text: null,
    });
    const narrowed = selectionOf(
      request({ until: '2026-12-06T07:00:00.000Z', error_code: 'PROCESSOR_PAUSED', error_text: 'vendor' }),
      NOW,
    );
    expect(narrowed).toMatchObject({
      until: '2026-12-06T07:00:00.000Z',
      error_code: 'PROCESSOR_PAUSED',
      error_text: 'vendor',
    });
  });

  it('refuses a window that ends before it starts', () => {
    expect(codeOf(() => selectionOf(request({ until: '2026-12-06T05:00:00.000Z' }), NOW))).toBe(
      'REQUEST_INVALID',
    );
  });

  const candidate: Candidate = {
    underwriting_id: 'u',
    of: 'k',
    processors: ['p1'],
    completed_at: 't',
    error_message: null,
  };
  it.each([
    ['one underwriting', [candidate], false, undefined],
    ['none', [], false, /matches no underwriting/],
    ['too many', [candidate], true, /matches more than 5000 underwritings/],
  ] as const)(
    'makes a job of a selection that matches %s, or says why not',
    (_case, candidates, truncated, why) => {
      const refusal = selectionRefusal({ candidates: [...candidates], truncated });
      if (why === undefined) expect(refusal).toBeUndefined();
      else expect(refusal).toMatch(why);
    },
  );

  const job = (over: Partial<StoredRerunJob> = {}): StoredRerunJob => ({
    ...newJob({
      id: 'j1',
      key: 'key-1',
      request: request(),
      selection: selectionOf(request(), NOW),
      by: OP,
      owner: 'instance-a',
      pacePerSecond: 2,
      leaseMs: 15_000,
      now: NOW,
    }),
    ...over,
  });

  it('becomes a job selecting, held by the instance that made it, at the default pace unless asked', () => {
    expect(job()).toMatchObject({
      id: 'j1',
      idempotency_key: 'key-1',
      state: 'selecting',
      requested_by: 'op@example.com',
      pace_per_second: 2,
      created_at: '2026-12-06T12:00:00.000Z',
      counts: NO_COUNTS,
      owner: 'instance-a',
      lease_until: NOW + 15_000,
      active: true,
    });
    const paced = newJob({
      id: 'j',
      key: undefined,
      request: request({ pace_per_second: 0.5 }),
      selection: selectionOf(request(), NOW),
      by: OP,
      owner: 'a',
      pacePerSecond: 2,
      leaseMs: 1,
      now: NOW,
    });
    expect(paced).toMatchObject({ pace_per_second: 0.5, idempotency_key: null });
    expect(publicJob(job())).not.toHaveProperty('owner');
  });

  it.each([
    ['the same request', request(), OP, undefined],
    [
      'another window and reason',
      request({ since: '2026-12-06T01:00:00.000Z', reason: 'again' }),
      OP,
      undefined,
    ],
    ['its processors repeated', request({ processors: ['p1', 'p2', 'p2'] }), OP, undefined],
    ['other processors', request({ processors: ['p1'] }), OP, 'IDEMPOTENCY_KEY_REUSED'],
    ['another status', request({ status: 'timeout' }), OP, 'IDEMPOTENCY_KEY_REUSED'],
    ['an error code', request({ error_code: 'PROCESSOR_PAUSED' }), OP, 'IDEMPOTENCY_KEY_REUSED'],
    ['another operator', request(), { ...OP, email: 'b@example.com' }, 'IDEMPOTENCY_KEY_REUSED'],
  ] as const)('finds the job again with its key for %s, else refuses', (_case, asked, by, code) => {
    expect(codeOf(() => sameRequest(job(), asked, by))).toBe(code);
  });

  it.each([
    ['a running job', job({ state: 'running' }), 'change'],
    ['a job selecting', job(), 'change'],
    ['a cancelled job', job({ state: 'cancelled' }), 'cancelled already'],
    ['a job that is done', job({ state: 'done', active: false }), 'RERUN_REFUSED'],
    ['a job no longer active', job({ state: 'running', active: false }), 'RERUN_REFUSED'],
  ] as const)('cancels %s: %s', (_case, j, outcome) => {
    if (outcome === 'RERUN_REFUSED') {
      expect(codeOf(() => cancelOf(j, OP, NOW))).toBe('RERUN_REFUSED');
      return;
    }
    const change = cancelOf(j, OP, NOW);
    if (outcome === 'cancelled already') expect(change).toBe(outcome);
    else
      expect(change).toEqual({
        job: {
          state: 'cancelled',
          cancelled_by: 'op@example.com',
          cancelled_at: '2026-12-06T12:00:00.000Z',
          updated_at: '2026-12-06T12:00:00.000Z',
        },
      });
  });
});
