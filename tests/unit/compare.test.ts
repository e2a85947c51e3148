import { describe, expect, it } from 'vitest';

import { differences } from '../../src/replay/compare.js';

const entry = (id: string, n = 1) => ({ processor_id: id, execution_id: `x-${id}`, factors: { n } });

const result = (completed: ReturnType<typeof entry>[]) => ({
  overall_status: 'success',
  completed_processors: completed,
  failed_processors: [],
});

describe('replay --expect differences', () => {
  it('match processors by processor_id: one inserted in the middle is one line, "added"', () => {
    const expected = result([entry('a_v1'), entry('c_v1'), entry('d_v1')]);
    const actual = result([entry('a_v1'), entry('b_v1'), entry('c_v1'), entry('d_v1')]);
    expect(differences(expected, actual)).toEqual(['completed_processors: added b_v1']);
  });

  it('say "removed" for a processor that is gone, and name a changed factor by processor', () => {
    const expected = result([entry('a_v1', 1), entry('b_v1'), entry('c_v1')]);
    const actual = result([entry('a_v1', 2), entry('c_v1')]);
    expect(differences(expected, actual)).toEqual([
      'completed_processors.a_v1.factors.n: expected 1, got 2',
      'completed_processors: removed b_v1',
    ]);
  });

  it('show a processor that moved to another group as removed from one and added to the other', () => {
    const expected = { completed_processors: [entry('a_v1')], failed_processors: [] };
    const actual = {
      completed_processors: [],
      failed_processors: [{ processor_id: 'a_v1', error_message: 'x' }],
    };
    expect(differences(expected, actual)).toEqual([
      'completed_processors: removed a_v1',
      'failed_processors: added a_v1',
    ]);
  });

  it('still compare other lists by position, volatile fields aside', () => {
    expect(differences({ documents: ['a', 'b'] }, { documents: ['a', 'c'] })).toEqual([
      'documents[1]: expected "b", got "c"',
    ]);
    expect(differences(result([entry('a_v1')]), { ...result([entry('a_v1')]), completed_at: 'now' })).toEqual(
      [],
    );
  });
});
