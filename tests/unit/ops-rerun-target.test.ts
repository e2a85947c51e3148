// What an operator's re-run of one underwriting runs again, as a table.
import { describe, expect, it } from 'vitest';

import { OrchestratorError } from '../../src/errors.js';
import type { ExecutionRecord, RecordedRun } from '../../src/ledger/history.js';
import { rerunTarget } from '../../src/ops/rerun-request.js';
import type { RerunRequest } from '../../src/ops/views.js';

const run = (processorId: string, status: RecordedRun['status']) => ({ processorId, status }) as RecordedRun;
const execution = (key: string, finishedAt: string | null, runs: RecordedRun[]) =>
  ({ key, finishedAt, runs }) as ExecutionRecord;

const RUNNING = execution('k3', null, []);
const LATEST = execution('k2', 't2', [run('p1', 'completed'), run('p2', 'failed'), run('p3', 'timeout')]);
const OLDER = execution('k1', 't1', [run('p1', 'failed')]);
const ALL_DONE = execution('k4', 't4', [run('p1', 'completed')]);

describe('what a re-run of one underwriting runs again', () => {
  it.each<[string, ExecutionRecord[], RerunRequest['processors'], string, string[] | string]>([
    [
      'failed: every entry not completed in the latest finished execution',
      [RUNNING, LATEST, OLDER],
      'failed',
      'k2',
      ['p2', 'p3'],
    ],
    ['named: those, once each', [LATEST], ['p1', 'p1', 'p3'], 'k2', ['p1', 'p3']],
    ['failed, when nothing failed: refused', [ALL_DONE], 'failed', '', 'RERUN_REFUSED'],
    ['nothing finished yet: refused', [RUNNING], 'failed', '', 'RERUN_REFUSED'],
    ['a processor that did not run: invalid', [LATEST], ['p1', 'p9'], '', 'REQUEST_INVALID'],
  ])('%s', (_case, records, processors, of, expected) => {
    if (typeof expected === 'string') {
      let thrown: unknown;
      try {
        rerunTarget('uw_1', records, { processors });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(OrchestratorError);
      expect((thrown as OrchestratorError).code).toBe(expected);
      return;
    }
    const target = rerunTarget('uw_1', records, { processors });
    expect(target.earlier.key).toBe(of);
    expect(target.processors).toEqual(expected);
  });
});
