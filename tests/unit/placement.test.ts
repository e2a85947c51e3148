import { describe, expect, it } from 'vitest';

import {
  admitWaiting,
  countBytes,
  decide,
  joinParsed,
  slotsInUse,
  SHARED_PARSE_BYTES,
  type Placement,
  type PlacementAsk,
  type PlacementView,
  type ThreadView,
} from '../../src/processors/placement.js';

const MB = 2 ** 20;

/** A thread with nothing on it, changed by `over`. */
const thread = (id: number, over: Partial<ThreadView> = {}): ThreadView => ({
  id,
  runs: 0,
  hot: false,
  closed: false,
  unread: false,
  short: 0,
  heldBytes: 0,
  inputs: new Map(),
  ...over,
});

function view(threads: ThreadView[], over: Partial<PlacementView> = {}): PlacementView {
  return {
    threads,
    cpuSlots: 2,
    liveThreads: threads.length,
    maxThreads: 8,
    threadBudgetBytes: 128 * MB,
    ...over,
  };
}

const ask = (mode: PlacementAsk['mode'], over: Partial<PlacementAsk> = {}): PlacementAsk => ({
  mode,
  isolated: false,
  bytes: 16 * 1024,
  input: { key: 'event 1', bytes: 48 * 1024 },
  ...over,
});

/** An event's input as large as `SHARED_PARSE_BYTES`, and a thread's runs holding it. */
const largeInput = { key: 'event 1', bytes: SHARED_PARSE_BYTES };
const largeInputHeld = new Map([['event 1', 3]]);

const on = (id: number): Placement => ({ kind: 'thread', id });
const spawn: Placement = { kind: 'spawn' };
const wait: Placement = { kind: 'wait' };

describe('placement of one attempt', () => {
  const waiter = (id: number, runs: number, over: Partial<ThreadView> = {}) => thread(id, { runs, ...over });

  it.each<[string, PlacementView, PlacementAsk, Placement]>([
    [
      'a run that waits goes to the fullest thread with room',
      view([waiter(1, 3), waiter(2, 300), thread(3)]),
      ask('share'),
      on(2),
    ],
    [
      'a run that waits skips threads that compute, read a run, host short runs or are closed',
      view([
        waiter(1, 5, { hot: true }),
        waiter(2, 5, { unread: true }),
        waiter(3, 5, { short: 1 }),
        waiter(4, 1, { closed: true }),
        waiter(5, 2),
      ]),
      ask('share'),
      on(5),
    ],
    [
      'a run that waits skips a thread whose runs hold its heap budget, even with few runs',
      view([waiter(1, 2, { heldBytes: 127 * MB }), waiter(2, 1)]),
      ask('share', { bytes: 2 * MB }),
      on(2),
    ],
    [
      "a run that waits goes to a thread holding its event's documents before a fuller one",
      view([waiter(1, 300), waiter(2, 3, { inputs: new Map([['event 1', 1]]) }), waiter(3, 5)]),
      ask('share'),
      on(2),
    ],
    [
      "a run that waits joins a thread holding its event's documents where another event's would not fit",
      view([waiter(1, 2, { heldBytes: 127 * MB, inputs: new Map([['event 1', 2]]) }), thread(2)]),
      ask('share', { input: { key: 'event 1', bytes: 2 * MB } }),
      on(1),
    ],
    [
      'a run that waits goes to an empty thread when no busy one has room',
      view([waiter(1, 2, { heldBytes: 127 * MB }), thread(2)]),
      ask('share', { bytes: 2 * MB }),
      on(2),
    ],
    [
      'a run that waits needs no slot, even when every slot is held',
      view([waiter(1, 1, { hot: true }), waiter(2, 1, { hot: true }), waiter(3, 4)]),
      ask('share'),
      on(3),
    ],
    [
      'a run that waits starts a thread when none has room',
      view([waiter(1, 1, { hot: true })]),
      ask('share'),
      spawn,
    ],
    [
      'no thread is started while one is starting',
      view([waiter(1, 1, { hot: true })], { liveThreads: 2 }),
      ask('share'),
      wait,
    ],
    [
      'no thread is started past the most',
      view([waiter(1, 1, { hot: true })], { maxThreads: 1 }),
      ask('share'),
      wait,
    ],
    ['a probe prefers an empty thread', view([waiter(1, 4), thread(2)]), ask('probe'), on(2)],
    [
      'a probe without an empty thread joins the least busy thread of waiting runs',
      view([waiter(1, 40), waiter(2, 3), waiter(3, 1, { unread: true })]),
      ask('probe'),
      on(2),
    ],
    [
      'a probe waits for a slot: it may compute',
      view([waiter(1, 1, { hot: true }), waiter(2, 1, { unread: true }), thread(3)]),
      ask('probe'),
      wait,
    ],
    ['a run known to compute takes an empty thread', view([waiter(1, 3), thread(2)]), ask('alone'), on(2)],
    ['a run known to compute never joins another', view([waiter(1, 3)]), ask('alone'), spawn],
    [
      'a run known to compute waits for a slot',
      view([waiter(1, 1, { hot: true }), waiter(2, 1, { hot: true }), thread(3)]),
      ask('alone'),
      wait,
    ],
    [
      'a short run joins the least busy thread of short runs, sharing its slot',
      view([waiter(1, 1, { hot: true }), waiter(2, 3, { short: 3 }), waiter(3, 1, { short: 1 })]),
      ask('short'),
      on(3),
    ],
    [
      'a short run takes an empty thread, and a slot for it, when the short threads are full',
      view([waiter(1, 4, { short: 4 }), thread(2)]),
      ask('short'),
      on(2),
    ],
    [
      'a short run waits when it would need a slot and none is free',
      view([waiter(1, 4, { short: 4 }), waiter(2, 1, { hot: true }), thread(3)]),
      ask('short'),
      wait,
    ],
    [
      "a short run of an event with large documents joins the thread that parsed them for the event's waiting runs",
      view([waiter(1, 1, { short: 1 }), waiter(2, 3, { inputs: largeInputHeld })]),
      ask('short', { input: largeInput }),
      on(2),
    ],
    [
      'and shares the slot of that thread when it is busy',
      view([
        waiter(1, 1, { short: 1 }),
        waiter(2, 3, { hot: true, inputs: largeInputHeld }),
        waiter(3, 1, { unread: true }),
      ]),
      ask('short', { input: largeInput }),
      on(2),
    ],
    [
      'but not a thread that is closed, reads a run, or has no memory left for it',
      view([
        waiter(1, 1, { short: 1 }),
        waiter(2, 3, { closed: true, inputs: largeInputHeld }),
        waiter(3, 3, { unread: true, inputs: largeInputHeld }),
        waiter(4, 3, { heldBytes: 128 * MB, inputs: largeInputHeld }),
      ]),
      ask('short', { input: largeInput }),
      on(1),
    ],
    [
      'a short run of an event with small documents keeps to the threads of short runs',
      view([waiter(1, 1, { short: 1 }), waiter(2, 3, { inputs: new Map([['event 1', 3]]) })]),
      ask('short'),
      on(1),
    ],
  ])('%s', (_name, v, a, expected) => {
    expect(decide(v, a)).toEqual(expected);
  });

  it('counts a slot for each thread that reads a run, computes or runs short runs, once each', () => {
    const v = view([
      thread(1, { runs: 1, unread: true, hot: true }),
      thread(2, { runs: 3, short: 3 }),
      thread(3, { runs: 9 }),
      thread(4),
    ]);
    expect(slotsInUse(v)).toBe(2);
  });
});

describe('a short run that joins the parse of its event at once', () => {
  const slotsFull = (over: Partial<ThreadView>) => [
    thread(1, { runs: 1, unread: true }),
    thread(2, { runs: 3, inputs: largeInputHeld, ...over }),
  ];

  it('joins the thread that parsed its large documents when that thread holds a slot already, all slots taken', () => {
    const v = view(slotsFull({ hot: true }), { cpuSlots: 2 });
    const shortRun = ask('short', { input: largeInput });
    expect(decide(v, shortRun)).toEqual(on(2));
    expect(joinParsed(v, shortRun)).toBe(2);
    // Hosted on the view: the thread counts it, and no slot more is in use.
    expect([v.threads[1]?.runs, v.threads[1]?.short, slotsInUse(v)]).toEqual([4, 1, 2]);
  });

  it('does not when joining would take a slot: it is queued for one, first come, first served', () => {
    const v = view(
      [thread(1, { runs: 1, unread: true }), thread(2, { runs: 1, hot: true }), ...slotsFull({}).slice(1)],
      {
        cpuSlots: 2,
      },
    );
    const shortRun = ask('short', { input: largeInput });
    expect(decide(v, shortRun)).toEqual(wait);
    expect(joinParsed(v, shortRun)).toBeUndefined();
    expect(v.threads.map((t) => t.runs)).toEqual([1, 1, 3]);
  });

  it('does not for small documents, nor for a run that is not short', () => {
    const v = view(slotsFull({ hot: true }));
    expect(
      joinParsed(v, ask('short', { input: { key: 'event 1', bytes: SHARED_PARSE_BYTES - 1 } })),
    ).toBeUndefined();
    expect(joinParsed(v, ask('probe', { input: largeInput }))).toBeUndefined();
  });
});

describe("a thread's memory", () => {
  it('counts an input once per thread, with its first run there, and lets it go with its last', () => {
    const t = thread(1);
    const input = { key: 'event 1', bytes: MB };
    const [a, b] = [ask('share', { input }), ask('share', { input })];
    const other = ask('short', { input: { key: 'event 2', bytes: 2 * MB } });
    for (const x of [a, b, other]) countBytes(t, x, 1);
    expect(t.heldBytes).toBe(3 * 16 * 1024 + 3 * MB);
    countBytes(t, a, -1);
    expect(t.heldBytes).toBe(2 * 16 * 1024 + 3 * MB);
    countBytes(t, b, -1);
    expect(t.heldBytes).toBe(16 * 1024 + 2 * MB);
    expect([...t.inputs]).toEqual([['event 2', 1]]);
    countBytes(t, other, -1);
    expect([t.heldBytes, t.inputs.size]).toEqual([0, 0]);
  });
});

describe('a pass over the waiting attempts', () => {
  it("puts an event's waiting runs on the thread that took its first, and another event's where it fits", () => {
    // Thread 1 has room for one more input of 2 MB, not two.
    const v = view([thread(1, { runs: 1, heldBytes: 125 * MB }), thread(2)]);
    const of = (key: string) => ask('share', { input: { key, bytes: 2 * MB } });
    const pass = admitWaiting(v, {
      slot: [],
      share: [of('event 1'), of('event 1'), of('event 1'), of('event 2')],
    });
    expect(pass).toEqual({ share: [1, 1, 1, 2], slot: [], spawn: false });
    expect(v.threads.map((t) => [t.runs, t.heldBytes])).toEqual([
      [4, 125 * MB + 3 * 16 * 1024 + 2 * MB],
      [1, 16 * 1024 + 2 * MB],
    ]);
  });

  it('starts each on the thread the view has after the ones before it, and stops a queue at its first that waits', () => {
    const v = view([thread(1), thread(2)]);
    const pass = admitWaiting(v, { slot: [ask('probe'), ask('probe'), ask('probe')], share: [ask('share')] });
    // The run that waits goes first (no slot needed) to the fullest thread with room: the first;
    // then two probes take both slots, one a thread, and the third waits.
    expect(pass).toEqual({ share: [1], slot: [2, 1], spawn: false });
    expect(v.threads.map((t) => t.runs)).toEqual([2, 1]);
  });

  it('keeps first come, first served for slots: a short run behind a waiting probe waits too', () => {
    const v = view([thread(1, { runs: 1, hot: true }), thread(2, { runs: 1, short: 1 })], { cpuSlots: 2 });
    const pass = admitWaiting(v, { slot: [ask('probe'), ask('short')], share: [ask('share')] });
    // The short run could join thread 2's slot, but the probe came first. The run that waits finds
    // no thread with room and a thread is started for it.
    expect(pass).toEqual({ share: [], slot: [], spawn: true });
  });

  it('isolates a run that must be alone: its thread takes nobody after it', () => {
    const v = view([thread(1), thread(2, { runs: 2 })]);
    const pass = admitWaiting(v, { slot: [ask('alone', { isolated: true })], share: [ask('share')] });
    expect(pass).toEqual({ share: [2], slot: [1], spawn: false });
    expect(v.threads[0]).toMatchObject({ closed: true, unread: true, runs: 1 });
  });

  it('starts one thread at a time however many wait for one', () => {
    const v = view([thread(1, { runs: 1, hot: true })], { cpuSlots: 4 });
    const pass = admitWaiting(v, { slot: [ask('alone'), ask('alone')], share: [ask('share')] });
    expect(pass).toEqual({ share: [], slot: [], spawn: true });
  });
});
