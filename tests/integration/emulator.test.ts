import { describe, expect, inject, it } from 'vitest';

import { startEmulator } from '../../src/pubsub/emulator.js';
import {
  collect,
  collectMessages,
  createTopicWithSubscription,
  emulatorPubSub,
  uniqueName,
} from '../helpers/pubsub.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe('Pub/Sub emulator', () => {
  it('delivers a message published to a fresh topic to a fresh subscription', async () => {
    const pubsub = emulatorPubSub(inject('pubsubEmulatorHost'));
    try {
      const { topic, subscription } = await createTopicWithSubscription(
        pubsub,
        uniqueName('topic'),
        uniqueName('sub'),
      );
      const receiving = collect(subscription, { count: 1, timeoutMs: 10_000 });
      const id = await topic.publishMessage({ data: Buffer.from('hello'), attributes: { kind: 'greeting' } });
      expect(await receiving).toEqual([{ id, data: 'hello', attributes: { kind: 'greeting' } }]);
    } finally {
      await pubsub.close();
    }
  });

  it('rejects a wait for more messages than arrived, listing the ones that did', async () => {
    const pubsub = emulatorPubSub(inject('pubsubEmulatorHost'));
    const { topic, subscription } = await createTopicWithSubscription(
      pubsub,
      uniqueName('topic'),
      uniqueName('sub'),
    );
    const collector = collectMessages(subscription);
    try {
      await topic.publishMessage({ data: Buffer.from('only-one') });
      await expect(collector.waitFor(2, 2_000)).rejects.toThrow(/expected 2 message\(s\).*got 1: .*only-one/);
    } finally {
      await collector.close();
      await pubsub.close();
    }
  });

  it('startEmulator answers on its host and stop() ends the process', { timeout: 60_000 }, async () => {
    const emulator = await startEmulator();
    try {
      expect(emulator.host).toMatch(/^127\.0\.0\.1:\d+$/);
      const response = await fetch(`http://${emulator.host}/`);
      expect((await response.text()).trim()).toBe('Ok');
      expect(isAlive(emulator.pid)).toBe(true);
    } finally {
      await emulator.stop();
    }
    expect(() => process.kill(emulator.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    await expect(emulator.stop()).resolves.toBeUndefined();
  });
});
