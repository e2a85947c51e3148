import { describe, expect, it } from 'vitest';

import { createLifecycle, StoppedWhileStarting } from '../../src/lifecycle.js';
import { createLogger } from '../../src/logging.js';

/** A logger whose lines are kept, parsed. */
function keptLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', {
    write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>),
  });
  return { log, lines };
}

describe('the lifecycle', () => {
  it('closes what was opened the last opened first, each once, however often close is called', async () => {
    const { log } = keptLog();
    const life = createLifecycle(log);
    const closed: string[] = [];
    for (const name of ['telemetry', 'ledger', 'server']) life.add(name, () => void closed.push(name));
    const first = life.close();
    expect(life.close()).toBe(first);
    expect(await first).toBe(true);
    expect(await life.close()).toBe(true);
    expect(closed).toEqual(['server', 'ledger', 'telemetry']);
  });

  it('waits for each close before the next (a slower close does not let an earlier-opened one go first)', async () => {
    const { log } = keptLog();
    const life = createLifecycle(log);
    const events: string[] = [];
    life.add('ledger', () => void events.push('ledger'));
    life.add('pool', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      events.push('pool');
    });
    await life.close();
    expect(events).toEqual(['pool', 'ledger']);
  });

  it('logs a close that throws or rejects, closes the rest, and says it was not clean', async () => {
    const { log, lines } = keptLog();
    const life = createLifecycle(log);
    const closed: string[] = [];
    life.add('telemetry', () => void closed.push('telemetry'));
    life.add('ledger', () => {
      throw new Error('ledger gone');
    });
    life.add('pool', () => Promise.reject(new Error('pool stuck')));
    life.add('server', () => void closed.push('server'));
    expect(await life.close()).toBe(false);
    expect(closed).toEqual(['server', 'telemetry']);
    expect(lines.filter((l) => l['severity'] === 'ERROR').map((l) => [l['message'], l['resource']])).toEqual([
      ['pool did not close', 'pool'],
      ['ledger did not close', 'ledger'],
    ]);
  });

  it('runs a close called early once, and skips it in the reverse pass', async () => {
    const { log } = keptLog();
    const life = createLifecycle(log);
    const closed: string[] = [];
    const closeRuntime = life.add('runtime', () => void closed.push('runtime'));
    life.add('server', () => void closed.push('server'));
    life.add('intake', async () => {
      closed.push('intake');
      await closeRuntime();
    });
    await closeRuntime();
    await life.close();
    expect(closed).toEqual(['runtime', 'intake', 'server']);
  });

  it('an early close that fails resolves all the same, and the lifecycle is not clean', async () => {
    const { log, lines } = keptLog();
    const life = createLifecycle(log);
    const closePull = life.add('pull subscription', () => Promise.reject(new Error('flush failed')));
    await expect(closePull()).resolves.toBeUndefined();
    expect(await life.close()).toBe(false);
    expect(lines.filter((l) => l['message'] === 'pull subscription did not close')).toHaveLength(1);
  });

  it('closes what is opened while closing, and what is opened after, at once', async () => {
    const { log } = keptLog();
    const life = createLifecycle(log);
    const closed: string[] = [];
    life.add('ledger', () => void closed.push('ledger'));
    life.add('server', () => {
      closed.push('server');
      // A step still under way opens one more thing as the pass goes.
      life.add('late', () => void closed.push('late'));
    });
    await life.close();
    expect(closed).toEqual(['server', 'late', 'ledger']);
    life.add('after', () => void closed.push('after'));
    await Promise.resolve();
    expect(closed).toEqual(['server', 'late', 'ledger', 'after']);
  });

  it('until: the work, unless a stop is asked for first, then StoppedWhileStarting at once', async () => {
    const { log } = keptLog();
    const starting = new AbortController();
    const life = createLifecycle(log, starting.signal);
    expect(await life.until(Promise.resolve(7))).toBe(7);
    const never = new Promise<never>(() => {});
    const waiting = life.until(never);
    starting.abort('received SIGTERM');
    await expect(waiting).rejects.toBeInstanceOf(StoppedWhileStarting);
    await expect(life.until(Promise.resolve(1))).rejects.toMatchObject({ reason: 'received SIGTERM' });
  });

  it('until: a signal aborted before the lifecycle was made stops the first step', async () => {
    const { log } = keptLog();
    await expect(createLifecycle(log, AbortSignal.abort('early')).until(undefined)).rejects.toBeInstanceOf(
      StoppedWhileStarting,
    );
    await expect(createLifecycle(log).until(undefined)).resolves.toBeUndefined();
  });
});
