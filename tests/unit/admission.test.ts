import { describe, expect, it, vi } from 'vitest';

import {
  ADMISSION,
  evaluate,
  nextShare,
  SHARE,
  type Holdings,
  type Readings,
  type Verdict,
} from '../../src/admission/decide.js';
import { memoryLimit } from '../../src/admission/admission.js';
import { createIntakeLog } from '../../src/admission/intake-log.js';
import { estimate, noHoldings, openTicket } from '../../src/admission/tickets.js';
import { eventBytes } from '../../src/processors/footprint.js';
import { capturingLog } from '../helpers/fixtures.js';
import { afterPull, askFor, PULL_WINDOW, whileFull } from '../../src/transport/pull-window.js';

const MB = 2 ** 20;
const GB = 2 ** 30;

const readings = (over: Partial<Readings> = {}): Readings => ({
  rssBytes: 200 * MB,
  limitBytes: 2 * GB,
  heapUsedBytes: 50 * MB,
  heapLimitBytes: 1 * GB,
  loopDelayMs: 5,
  cpuWaitMs: 0,
  cpuSlots: 2,
  threadless: 0,
  limitWaiting: 0,
  ...over,
});

const holdings = (over: Partial<Holdings> = {}): Holdings => ({
  events: 10,
  intake: 0,
  accountedBytes: 10 * MB,
  perEventBytes: 1 * MB,
  perEventCpuMs: 0,
  idleRssBytes: 150 * MB,
  share: 1,
  ...over,
});

const high = ADMISSION.highWater * 2 * GB;
const low = ADMISSION.lowWater * 2 * GB;

describe('admission: how many events an instance may take now', () => {
  it.each<[string, Partial<Readings>, Partial<Holdings>, Verdict['stopped'], Partial<Verdict>]>([
    [
      'memory room: what is left below the high-water mark, over what an event holds',
      {},
      {},
      undefined,
      { room: Math.floor((high - 200 * MB) / MB), reason: undefined, stopped: undefined },
    ],
    [
      'events in intake count what they will hold before resident memory shows it',
      {},
      { intake: 100 },
      undefined,
      { room: Math.floor((high - 200 * MB - 100 * MB) / MB) },
    ],
    [
      'the accounts count when resident memory lags them',
      {},
      { accountedBytes: 1 * GB },
      undefined,
      { room: Math.floor((high - 150 * MB - 1 * GB) / MB) },
    ],
    [
      'the accounts and the estimates count at the share resident memory was found to hold',
      {},
      { accountedBytes: 1 * GB, intake: 100, share: 0.5 },
      undefined,
      { room: Math.floor((high - 150 * MB - 0.5 * GB - 100 * 0.5 * MB) / (0.5 * MB)) },
    ],
    [
      'resident memory above the scaled accounts counts as itself',
      { rssBytes: 1 * GB },
      { accountedBytes: 1 * GB, share: 0.5 },
      undefined,
      { room: Math.floor((high - 1 * GB) / (0.5 * MB)) },
    ],
    [
      'full once one more event would reach the high-water mark',
      { rssBytes: high - 0.5 * MB },
      {},
      undefined,
      { room: 0, reason: 'memory', stopped: 'memory' },
    ],
    [
      'full at the high-water mark',
      { rssBytes: high },
      {},
      undefined,
      { room: 0, reason: 'memory', stopped: 'memory' },
    ],
    [
      'stays full, once full, until below the low-water mark',
      { rssBytes: low + MB },
      {},
      'memory',
      { room: 0, reason: 'memory', stopped: 'memory' },
    ],
    [
      'takes again below the low-water mark',
      { rssBytes: low - MB },
      {},
      'memory',
      { room: Math.floor((high - (low - MB)) / MB), stopped: undefined },
    ],
    [
      "full when the main thread's heap is at its high-water mark",
      { heapUsedBytes: 0.8 * GB },
      {},
      undefined,
      { room: 0, reason: 'memory' },
    ],
    [
      'full while the event loop is late, until it is under the low mark',
      { loopDelayMs: ADMISSION.lagHighMs },
      {},
      undefined,
      { room: 0, reason: 'event-loop', stopped: 'event-loop' },
    ],
    [
      'stays full while the event loop is between its marks',
      { loopDelayMs: ADMISSION.lagLowMs + 1 },
      {},
      'event-loop',
      { room: 0, reason: 'event-loop' },
    ],
    [
      'cpu room: events whose compute would start within the second',
      { cpuWaitMs: 600 },
      { perEventCpuMs: 20 },
      undefined,
      { room: Math.floor(((ADMISSION.startSoonMs - 600) * 2) / 20), reason: undefined },
    ],
    [
      'the compute of events in intake is queued ahead of the next one',
      { cpuWaitMs: 600 },
      { perEventCpuMs: 20, intake: 10 },
      undefined,
      { room: Math.floor(((ADMISSION.startSoonMs - 600 - (10 * 20) / 2) * 2) / 20) },
    ],
    [
      'full when a computing run would wait longer than soon',
      { cpuWaitMs: ADMISSION.startSoonMs + 1 },
      { perEventCpuMs: 20 },
      undefined,
      { room: 0, reason: 'cpu' },
    ],
    [
      'events that compute nothing are bounded by the CPU only once runs queue past soon',
      { cpuWaitMs: ADMISSION.startSoonMs + 1 },
      { perEventCpuMs: 0 },
      undefined,
      { room: 0, reason: 'cpu' },
    ],
    [
      'full while a run waits for a thread none can give',
      { threadless: 1 },
      {},
      undefined,
      { room: 0, reason: 'threads' },
    ],
    [
      'full while a run waits for its concurrency limit',
      { limitWaiting: 3 },
      {},
      undefined,
      { room: 0, reason: 'concurrency' },
    ],
    [
      'with nothing in progress one event is always taken, so an instance never stops for good',
      { rssBytes: high + MB, limitWaiting: 1 },
      { events: 0 },
      undefined,
      { room: 1, reason: undefined, stopped: 'memory' },
    ],
  ])('%s', (_name, r, h, stopped, expected) => {
    expect(evaluate(readings(r), holdings(h), stopped)).toMatchObject(expected);
  });
});

describe('the share of the accounts resident memory holds', () => {
  const held = { accountedBytes: 1 * GB, idleRssBytes: 200 * MB };
  it.each<[string, number, number, Pick<Holdings, 'accountedBytes' | 'idleRssBytes'>, number]>([
    ['rises at once to a higher reading', 0.6, 200 * MB + 0.9 * GB, held, 0.9],
    ['falls slowly to a lower reading', 1, 200 * MB + 0.5 * GB, held, 1 - SHARE.fallWeight * 0.5],
    ['is never above 1: resident memory above the accounts counts as itself', 0.8, 3 * GB, held, 1],
    ['is never below its floor', SHARE.min, 200 * MB, held, SHARE.min],
    [
      'is not measured while the accounts are too small to tell from noise',
      0.7,
      200 * MB + 10 * MB,
      { accountedBytes: 100 * MB, idleRssBytes: 200 * MB },
      0.7,
    ],
  ])('%s', (_name, share, rss, h, expected) => {
    expect(nextShare(share, rss, h, 2 * GB)).toBeCloseTo(expected, 9);
  });

  it('follows a steady lower reading most of the way in two seconds of readings, and to it in ten', () => {
    const after = (readings: number) => {
      let share = 1;
      for (let i = 0; i < readings; i++) share = nextShare(share, 200 * MB + 0.6 * GB, held, 2 * GB);
      return share;
    };
    expect(after(1)).toBeGreaterThan(0.97);
    expect(after(20)).toBeGreaterThan(0.7);
    expect(after(20)).toBeLessThan(0.8);
    expect(after(100)).toBeCloseTo(0.6, 2);
  });
});

describe('the memory limit admission measures against', () => {
  const GiB = 2 ** 30;
  it.each([
    ['a cgroup limit (Cloud Run)', 2 * GiB, 16 * GiB, 2 * GiB],
    ['no limit under cgroup v1 (the largest number it holds)', 9223372036854771712, 16 * GiB, 16 * GiB],
    ['no cgroup at all', 0, 16 * GiB, 16 * GiB],
    ['a limit above the machine', 64 * GiB, 16 * GiB, 16 * GiB],
  ])('%s', (_case, constrained, total, limit) => {
    expect(memoryLimit(constrained, total)).toBe(limit);
  });
});

describe('pull: how many messages to ask for', () => {
  it('opens the window by doubling while pulls come back full, up to the most a pull asks', () => {
    let window: number = PULL_WINDOW.first;
    const asked: number[] = [];
    for (let i = 0; i < 12; i++) {
      const n = askFor(window, Infinity);
      asked.push(n);
      window = afterPull(window, n, n);
    }
    expect(asked).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000]);
  });

  it('keeps the window when a pull comes back short, and halves it while admission is full', () => {
    expect(afterPull(64, 64, 10)).toBe(64);
    expect(whileFull(64)).toBe(32);
    expect(whileFull(1)).toBe(1);
  });

  it('never asks for more than the room', () => {
    expect(askFor(512, 37)).toBe(37);
    expect(askFor(512, 0)).toBe(0);
  });
});

describe('admission tickets: what a taken event holds', () => {
  const pool = { expectedCpuMs: (ids: Iterable<string>) => 100 * [...ids].length };

  it('counts an event in intake until its runs are asked for, then at what its plan holds, until released', () => {
    const holdings = noHoldings(100 * MB);
    let changes = 0;
    const ticket = openTicket(holdings, pool, () => void changes++);
    expect(holdings).toMatchObject({ events: 1, intake: 1, accountedBytes: 0 });
    ticket.started({ inputBytes: 4 * MB, processorIds: ['a', 'b'] });
    const held = eventBytes(4 * MB, 2);
    expect(holdings).toMatchObject({ events: 1, intake: 0, accountedBytes: held, perEventBytes: held });
    expect(holdings.perEventCpuMs).toBeCloseTo(0.1 * 200);
    ticket.started({ inputBytes: 8 * MB, processorIds: ['a'] });
    ticket.release();
    ticket.release();
    expect(holdings).toMatchObject({ events: 0, intake: 0, accountedBytes: 0 });
    expect(changes).toBe(2);
  });

  it('a ticket released before its runs are asked for leaves intake, and cannot start after', () => {
    const holdings = noHoldings(100 * MB);
    const ticket = openTicket(holdings, pool, () => {});
    ticket.release();
    ticket.started({ inputBytes: MB, processorIds: ['a'] });
    expect(holdings).toMatchObject({ events: 0, intake: 0, accountedBytes: 0 });
  });

  it.each([
    ['rises at once to a larger event', 1 * MB, 3 * MB, 3 * MB],
    ['falls a tenth of the way to a smaller one', 10 * MB, 0, 9 * MB],
    ['stays at an equal one', 2 * MB, 2 * MB, 2 * MB],
  ])('the per-event estimate %s', (_case, current, event, next) => {
    expect(estimate(current, event)).toBe(next);
  });
});

describe("admission's log: intake stopped and resumed, refusals", () => {
  const state = () => ({
    events: 3,
    intake: 1,
    rss_mb: 900,
    limit_mb: 1024,
    loop_delay_ms: 2,
    accounts_share: 1,
  });

  it('says once when intake stops and once when it resumes, with why and the state', () => {
    const { log, lines } = capturingLog();
    const intake = createIntakeLog(log, state);
    intake.saw(undefined);
    intake.saw('memory');
    intake.saw('memory');
    expect(intake.stopped()).toBe('memory');
    intake.saw(undefined);
    expect(lines.map((l) => [l['message'], l['reason']])).toEqual([
      ['intake stopped: the instance is full', 'memory'],
      ['intake resumed', 'memory'],
    ]);
    expect(lines[0]).toMatchObject(state());
  });

  it('logs the first refusal at once, the rest as one line with counts once the window is over', () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const { log, lines } = capturingLog();
      const intake = createIntakeLog(log, state);
      intake.refused('cpu');
      intake.refused('cpu');
      intake.refused('memory');
      intake.flush();
      expect(lines.map((l) => l['message'])).toEqual(['instance full: refusing new events']);
      vi.setSystemTime(10_000);
      intake.flush();
      expect(lines[1]).toMatchObject({
        message: 'instance full: events refused since the last line',
        refused: { cpu: 2, memory: 1 },
      });
      intake.refused('threads');
      intake.flush(true);
      expect(lines.map((l) => l['message'])).toEqual([
        'instance full: refusing new events',
        'instance full: events refused since the last line',
        'instance full: refusing new events',
        'instance full: events refused since the last line',
      ]);
      intake.flush(true);
      expect(lines).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });
});
