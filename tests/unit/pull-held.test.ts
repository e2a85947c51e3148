import { describe, expect, it } from 'vitest';

import { holdMessages } from '../../src/transport/pull-held.js';
import { silentLog } from '../helpers/fixtures.js';

/** A subscriber client that records what it is told. */
function fakeClient() {
  const acked: string[][] = [];
  const deadlines: { ackIds: string[]; seconds: number }[] = [];
  return {
    acked,
    deadlines,
    nacked: () => deadlines.filter((d) => d.seconds === 0).flatMap((d) => d.ackIds),
    acknowledge: (request: { ackIds?: string[] | null }) => {
      acked.push([...(request.ackIds ?? [])]);
      return Promise.resolve([{}]);
    },
    modifyAckDeadline: (request: { ackIds?: string[] | null; ackDeadlineSeconds?: number | null }) => {
      deadlines.push({ ackIds: [...(request.ackIds ?? [])], seconds: request.ackDeadlineSeconds ?? -1 });
      return Promise.resolve([{}]);
    },
  };
}

const make = (client: ReturnType<typeof fakeClient>) =>
  holdMessages(
    client as unknown as Parameters<typeof holdMessages>[0],
    () => 'projects/p/subscriptions/s',
    silentLog,
  );

describe('messages pull holds', () => {
  it('sends each verdict as an ack or a nack, batched, and holds nothing after', async () => {
    const client = fakeClient();
    const held = make(client);
    held.hold('a');
    held.hold('b');
    expect(held.size).toBe(2);
    held.settle('a', 'ack');
    held.settle('b', 'nack');
    held.nack('c');
    expect(held.size).toBe(0);
    await held.close(1_000);
    expect(client.acked.flat()).toEqual(['a']);
    expect(client.nacked()).toEqual(['b', 'c']);
  });

  it('at close waits for a verdict still to come, within its timeout', async () => {
    const client = fakeClient();
    const held = make(client);
    held.hold('slow');
    const closed = held.close(10_000);
    setTimeout(() => held.settle('slow', 'ack'), 20);
    const started = performance.now();
    await closed;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(client.acked.flat()).toEqual(['slow']);
    expect(client.nacked()).toEqual([]);
  });

  it('at close nacks what has no verdict by its timeout, and ignores a verdict given later', async () => {
    const client = fakeClient();
    const held = make(client);
    held.hold('stuck');
    await held.close(30);
    expect(client.nacked()).toEqual(['stuck']);
    held.settle('stuck', 'ack');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.acked).toEqual([]);
  });
});
