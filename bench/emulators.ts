// The emulators a bench section runs on: the one its variable names (PUBSUB_EMULATOR_HOST,
// FIRESTORE_EMULATOR_HOST) when it is set, else one the bench starts (src/emulators/launcher.ts)
// and stops when the section ends, however it ends.
import type { Emulator } from '../src/emulators/launcher.js';
import { startFirestoreEmulator } from '../src/ledger/emulator.js';
import { startEmulator } from '../src/pubsub/emulator.js';

export type EmulatorKind = 'pubsub' | 'firestore';

const KINDS = {
  pubsub: { variable: 'PUBSUB_EMULATOR_HOST', start: startEmulator },
  firestore: { variable: 'FIRESTORE_EMULATOR_HOST', start: startFirestoreEmulator },
} as const;

export interface EmulatorInUse {
  host: string;
  /** Its process group when the bench started it (its CPU shares the cores); undefined when given. */
  pid: number | undefined;
}

/** The host the environment names for `kind`, or undefined when the bench must start one. */
export function givenHost(kind: EmulatorKind, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env[KINDS[kind].variable];
  return host === undefined || host === '' ? undefined : host;
}

/**
 * Runs `body` with an emulator of each kind: given by the environment, or started (all at once)
 * and stopped after `body`, whether it returns or throws. If one fails to start, those that did
 * are stopped and the failure thrown.
 */
export async function withEmulators<K extends EmulatorKind, T>(
  kinds: readonly K[],
  body: (emulators: Record<K, EmulatorInUse>) => Promise<T>,
): Promise<T> {
  const started = await Promise.allSettled(
    kinds.map(async (kind) => {
      const host = givenHost(kind);
      return host === undefined ? KINDS[kind].start() : undefined;
    }),
  );
  const running = started.flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value] : []));
  const stop = () => Promise.all(running.map((e) => e.stop()));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const inUse = (kind: K, i: number): EmulatorInUse => {
    const emulator = (started[i] as PromiseFulfilledResult<Emulator | undefined>).value;
    return { host: emulator?.host ?? givenHost(kind) ?? '', pid: emulator?.pid };
  };
  try {
    return await body(
      Object.fromEntries(kinds.map((kind, i) => [kind, inUse(kind, i)])) as Record<K, EmulatorInUse>,
    );
  } finally {
    await stop();
  }
}
