// What replay makes of what arrives for the messages it published: the first of a result or a dead
// letter wins, and what arrives before its publish returned is kept until then.
import { describe, expect, it } from 'vitest';

import { ReplayOutcomes } from '../../src/commands/replay-outcomes.js';
import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import type { ReplayInput } from '../../src/replay/inputs.js';

const input = (name: string) => ({ name, origin: `${name}.json` }) as ReplayInput;
const result = (uw: string) => ({ underwriting_id: uw }) as ProcessingCompleted;

describe('what replay heard of each message', () => {
  it('settles a message by its first result or dead letter, and ignores what comes after', () => {
    const told: number[] = [];
    const outcomes = new ReplayOutcomes(2, (n) => told.push(n));
    outcomes.published('m1', input('a'));
    outcomes.published('m2', input('b'));
    outcomes.arrived('m1', (o) => (o.result = result('uw_1')));
    outcomes.arrived('m1', (o) => (o.deadLettered = 'late'));
    outcomes.arrived('m2', (o) => (o.deadLettered = 'not JSON'));
    outcomes.arrived('m2', (o) => (o.result = result('uw_2')));
    outcomes.arrived(undefined, (o) => (o.result = result('no id')));
    expect(outcomes.settled).toBe(2);
    expect(told).toEqual([1, 2]);
    expect(outcomes.all().map((o) => [o.input.name, o.result?.underwriting_id, o.deadLettered])).toEqual([
      ['a', 'uw_1', undefined],
      ['b', undefined, 'not JSON'],
    ]);
  });

  it('keeps what arrives before its publish returned, the first of it, until the id is known', () => {
    const outcomes = new ReplayOutcomes(1);
    outcomes.arrived('m1', (o) => (o.result = result('first')));
    outcomes.arrived('m1', (o) => (o.result = result('second')));
    expect(outcomes.settled).toBe(0);
    outcomes.published('m1', input('a'));
    expect(outcomes.settled).toBe(1);
    expect(outcomes.all()[0]?.result?.underwriting_id).toBe('first');
  });

  it('waits until every message settled, or until the deadline', async () => {
    const outcomes = new ReplayOutcomes(1);
    outcomes.published('m1', input('a'));
    const waited = outcomes.until(Date.now() + 60_000);
    outcomes.arrived('m1', (o) => (o.result = result('uw_1')));
    await waited;
    expect(outcomes.settled).toBe(1);
    const none = new ReplayOutcomes(1);
    const start = Date.now();
    await none.until(start + 50);
    expect(none.settled).toBe(0);
    expect(Date.now()).toBeGreaterThanOrEqual(start + 49);
  });
});
