import { chmod, mkdir, mkdtemp, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { PORT_ATTEMPTS, retryOnAnotherPort } from '../../src/emulators/launcher.js';
import { findFirestoreEmulator } from '../../src/ledger/emulator.js';
import { findEmulator, startEmulator } from '../../src/pubsub/emulator.js';

const EMULATOR_IN_SDK = join('platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');

async function tempDir(): Promise<string> {
  return realpath(await mkdtemp(join(tmpdir(), 'emulator-')));
}

async function script(path: string, body: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

/** An SDK root whose "emulator" is a shell script, so startup failures are quick to provoke. */
async function fakeSdk(emulatorBody: string): Promise<NodeJS.ProcessEnv> {
  const root = await tempDir();
  await script(join(root, EMULATOR_IN_SDK), emulatorBody);
  return { PATH: process.env['PATH'] ?? '', CLOUDSDK_ROOT_DIR: root };
}

describe('findEmulator', () => {
  it('says how to install the emulator when CLOUDSDK_ROOT_DIR has none', async () => {
    const root = await tempDir();
    expect(() => findEmulator({ CLOUDSDK_ROOT_DIR: root, PATH: '' })).toThrow(
      /not installed \(looked for .*cloud-pubsub-emulator\).*apt-get install google-cloud-cli-pubsub-emulator/,
    );
  });

  it('says how to install the Firestore emulator when the SDK has none', async () => {
    const root = await tempDir();
    expect(() => findFirestoreEmulator({ CLOUDSDK_ROOT_DIR: root, PATH: '' })).toThrow(
      /^the Firestore emulator is not installed \(looked for .*cloud_firestore_emulator\).*apt-get install google-cloud-cli-firestore-emulator[^\n]*$/,
    );
  });

  it('says the SDK is missing when gcloud is not on PATH', async () => {
    const empty = await tempDir();
    expect(() => findEmulator({ PATH: empty })).toThrow(
      /gcloud is not on PATH.*apt-get install google-cloud-cli-pubsub-emulator/,
    );
  });

  it('finds the emulator two folders above the real path of gcloud on PATH', async () => {
    const root = await tempDir();
    const emulator = await script(join(root, EMULATOR_IN_SDK), 'exit 0');
    await script(join(root, 'bin', 'gcloud'), 'echo gcloud must not be run >&2; exit 1');
    const pathDir = await tempDir();
    await symlink(join(root, 'bin', 'gcloud'), join(pathDir, 'gcloud'));
    expect(findEmulator({ PATH: pathDir })).toBe(emulator);
  });

  it('asks gcloud info for the SDK root when the emulator is not beside gcloud', async () => {
    const sdk = await tempDir();
    const emulator = await script(join(sdk, EMULATOR_IN_SDK), 'exit 0');
    const elsewhere = await tempDir();
    await script(join(elsewhere, 'bin', 'gcloud'), `echo ${sdk}`);
    expect(findEmulator({ PATH: join(elsewhere, 'bin') })).toBe(emulator);
  });
});

describe('startEmulator', () => {
  it('reports the exit code and the last output lines when the emulator exits early', async () => {
    const env = await fakeSdk('for i in $(seq 1 80); do echo "line $i"; done; echo "boom" >&2; exit 3');
    const error = await startEmulator({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/exited with code 3 before it was ready; its output ended with:\n/);
    expect(message).toContain('line 80');
    expect(message).toContain('boom');
    expect(message).not.toContain('line 10\n');
  });

  it('stops the emulator and says so when it does not answer within startTimeoutMs', async () => {
    const env = await fakeSdk('echo "warming up"; exec sleep 30');
    const started = Date.now();
    await expect(startEmulator({ env, startTimeoutMs: 500 })).rejects.toThrow(
      /did not start in 0\.5 s \(no answer from http:\/\/127\.0\.0\.1:\d+\/\); its output ended with:\nwarming up/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a port that is already in use', async () => {
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const env = await fakeSdk('exec sleep 30');
      await expect(startEmulator({ env, port })).rejects.toThrow(`127.0.0.1:${port} is already in use`);
    } finally {
      server.close();
    }
  });

  it('asks for another free port when the one it was given is taken before the emulator binds it', async () => {
    const launches = join(await tempDir(), 'launches');
    // Each launch appends its arguments; the first says its port was taken, as the JVM does.
    const env = await fakeSdk(
      [
        `echo "$@" >> ${launches}`,
        `if [ "$(wc -l < ${launches})" -eq 1 ]; then echo "java.net.BindException: Address already in use" >&2; exit 1; fi`,
        `port=$(echo "$@" | sed 's/.*--port=\\([0-9]*\\).*/\\1/')`,
        `exec node -e "require('node:http').createServer((q, r) => r.end('Ok')).listen($port, '127.0.0.1')"`,
      ].join('\n'),
    );
    const emulator = await startEmulator({ env });
    try {
      const ports = (await readFile(launches, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => /--port=(\d+)/.exec(l)?.[1]);
      expect(ports).toHaveLength(2);
      expect(emulator.host).toBe(`127.0.0.1:${ports[1]}`);
      expect(await (await fetch(`http://${emulator.host}/`)).text()).toBe('Ok');
    } finally {
      await emulator.stop();
    }
  });

  it('gives up after three ports taken, saying why', async () => {
    const launches = join(await tempDir(), 'launches');
    const env = await fakeSdk(
      `echo "$@" >> ${launches}; echo "java.net.BindException: Address already in use" >&2; exit 1`,
    );
    await expect(startEmulator({ env })).rejects.toThrow(
      /exited with code 1 before it was ready.*\n.*BindException/,
    );
    expect((await readFile(launches, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  it('says Java is missing when neither JAVA_HOME nor PATH has it', async () => {
    const env = await fakeSdk('exit 0');
    const empty = await tempDir();
    await expect(startEmulator({ env: { ...env, PATH: empty } })).rejects.toThrow(
      /needs Java 11 or newer, but no java on PATH/,
    );
  });
});

describe('retryOnAnotherPort', () => {
  const taken =
    'SEVERE: Exiting due to unexpected exception.\njava.net.BindException: Address already in use';
  it.each<[string, Parameters<typeof retryOnAnotherPort>[0], boolean]>([
    [
      'the OS chose the port and the emulator said it was taken',
      { exitOutput: taken, portRequested: false, attempt: 1 },
      true,
    ],
    [
      'the same, on the last try but one',
      { exitOutput: taken, portRequested: false, attempt: PORT_ATTEMPTS - 1 },
      true,
    ],
    ['no tries are left', { exitOutput: taken, portRequested: false, attempt: PORT_ATTEMPTS }, false],
    ['the caller asked for that port', { exitOutput: taken, portRequested: true, attempt: 1 }, false],
    ['it exited for another reason', { exitOutput: 'boom', portRequested: false, attempt: 1 }, false],
    [
      'it did not exit by itself (timeout, or it could not be run)',
      { exitOutput: undefined, portRequested: false, attempt: 1 },
      false,
    ],
  ])('%s', (_name, failure, expected) => {
    expect(retryOnAnotherPort(failure)).toBe(expected);
  });
});
