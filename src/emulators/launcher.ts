import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const DEFAULTS = {
  startTimeoutMs: 30_000,
  stopGraceMs: 5_000,
  pollIntervalMs: 100,
  probeTimeoutMs: 1_000,
  outputTailLines: 50,
  gcloudInfoTimeoutMs: 15_000,
} as const;

const HOST = '127.0.0.1';

/**
 * One of the official emulators of the Google Cloud SDK: where its launcher lives under the SDK
 * root, how it is told its address, and how to install it. Every emulator is started, awaited
 * and stopped the same way (see `startSdkEmulator`).
 */
export interface EmulatorSpec {
  /** For messages: `Pub/Sub`, `Firestore`. */
  name: string;
  /** The launcher, relative to the SDK root. */
  pathInSdk: string;
  /** Arguments that make it listen on `host:port`. */
  args(host: string, port: number): string[];
  /** How to install it, for the one line a missing emulator produces. */
  installHint: string;
}

/** A running official emulator, listening on loopback. */
export interface Emulator {
  /** `127.0.0.1:PORT`: the value for `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST`. */
  host: string;
  /** PID of the emulator's launcher, the leader of its own process group (its JVM is in it). */
  pid: number;
  /**
   * Stops the emulator's process group: SIGTERM, then SIGKILL if it has not exited after 5 s.
   * Resolves once the launcher has exited. Safe to call more than once, and after the emulator
   * died by itself.
   */
  stop(): Promise<void>;
}

export interface StartEmulatorOptions {
  /** Port to listen on, on 127.0.0.1. Default: a free port chosen by the OS. */
  port?: number;
  /** Environment for the SDK lookup and the emulator process. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** How long the emulator may take to answer `GET /`. Default: 30000. */
  startTimeoutMs?: number;
}

/**
 * Finds the launcher of an emulator in the installed Google Cloud SDK. The SDK root is
 * `CLOUDSDK_ROOT_DIR` if set; otherwise two folders above the real path of `gcloud` on `PATH`,
 * and only if the emulator is not there, what `gcloud info` reports.
 *
 * @returns the absolute path of the launcher.
 * @throws Error naming the paths it looked at and how to install the emulator.
 */
export function findSdkEmulator(spec: EmulatorSpec, env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  for (const root of sdkRootCandidates(env)) {
    const candidate = join(root, spec.pathInSdk);
    if (isExecutable(candidate)) return candidate;
    tried.push(candidate);
  }
  const where =
    tried.length > 0 ? `looked for ${tried.join(', ')}` : 'no Google Cloud SDK found: gcloud is not on PATH';
  throw hinted(`the ${spec.name} emulator is not installed (${where})`, spec.installHint);
}

/** An error whose message ends with what to do about it (`hint`, which the fatal line keeps whole). */
function hinted(message: string, hint: string): Error & { hint: string } {
  return Object.assign(new Error(`${message}; ${hint}`), { hint });
}

/**
 * What starting an emulator needs and can be checked in an instant: its launcher (returned) and
 * Java. Throws as `startSdkEmulator` does, so a missing one is said before anything is started.
 */
export function checkSdkEmulator(spec: EmulatorSpec, env: NodeJS.ProcessEnv = process.env): string {
  const launcher = findSdkEmulator(spec, env);
  assertJavaPresent(spec, env);
  return launcher;
}

/**
 * Starts an official emulator on 127.0.0.1, in its own process group, and resolves once it
 * answers HTTP requests. The emulator does not keep the caller's event loop alive; call `stop()`
 * when done. If the calling process exits or dies without calling `stop()` (even by SIGKILL), a
 * small watchdog stops the emulator's process group. Only on POSIX systems (the launchers and the
 * watchdog are shell scripts; a launcher may run its JVM as a child rather than `exec` it, which
 * is why the whole group is signalled). Without `port`, a free one is asked of the OS; when it is
 * taken before the emulator binds it, the emulator is started again on another (three tries).
 *
 * @throws Error if the emulator or Java is missing, the port is taken, the emulator exits before it
 *   is ready, or it is not ready within `startTimeoutMs`; the message ends with its last output lines.
 */
export async function startSdkEmulator(
  spec: EmulatorSpec,
  options: StartEmulatorOptions = {},
): Promise<Emulator> {
  const env = options.env ?? process.env;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULTS.startTimeoutMs;
  const { port: requestedPort } = options;
  if (
    requestedPort !== undefined &&
    !(Number.isInteger(requestedPort) && requestedPort > 0 && requestedPort < 65536)
  ) {
    throw new Error(`startEmulator: port must be an integer from 1 to 65535, got ${requestedPort}`);
  }
  if (!(Number.isFinite(startTimeoutMs) && startTimeoutMs > 0)) {
    throw new Error(`startEmulator: startTimeoutMs must be a positive number, got ${startTimeoutMs}`);
  }

  const launcher = checkSdkEmulator(spec, env);
  for (let attempt = 1; ; attempt++) {
    const port = requestedPort ?? (await freePort());
    if (requestedPort !== undefined) await assertPortFree(spec, port);
    const started = await launch(spec, launcher, port, env, startTimeoutMs);
    if ('emulator' in started) return started.emulator;
    const { exitOutput } = started;
    if (!retryOnAnotherPort({ exitOutput, portRequested: requestedPort !== undefined, attempt })) {
      throw started.error;
    }
  }
}

/** How many free ports the OS is asked for when the one it gave is taken before the emulator binds it. */
export const PORT_ATTEMPTS = 3;

/**
 * Whether a start that failed is tried again on another free port. A port the OS called free can
 * be taken before the emulator binds it (the Firestore emulator's own WebSocket port, which it
 * asks the OS for, or another emulator starting): so only when the OS chose the port, the
 * emulator exited saying it was taken (its JVM's `BindException`), and tries are left.
 */
export function retryOnAnotherPort(failure: {
  /** What the emulator printed before it exited; undefined when it did not exit by itself. */
  exitOutput: string | undefined;
  portRequested: boolean;
  /** The try that failed, from 1. */
  attempt: number;
}): boolean {
  return (
    !failure.portRequested &&
    failure.attempt < PORT_ATTEMPTS &&
    (failure.exitOutput?.includes('java.net.BindException') ?? false)
  );
}

/** One start of the emulator on `port`: ready, or why not (and what it printed, if it exited). */
async function launch(
  spec: EmulatorSpec,
  launcher: string,
  port: number,
  env: NodeJS.ProcessEnv,
  startTimeoutMs: number,
): Promise<{ emulator: Emulator } | { error: Error; exitOutput?: string }> {
  const child = spawn(launcher, spec.args(HOST, port), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: stop() and the watchdog signal the launcher and its JVM together.
    detached: true,
  });
  const tail = outputTail(DEFAULTS.outputTailLines);
  child.stdout?.setEncoding('utf8').on('data', tail.write);
  child.stderr?.setEncoding('utf8').on('data', tail.write);

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // 'close' rather than 'exit', so the output tail in the error is complete.
  const closed = new Promise<string>((resolve) =>
    child.once('close', (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`)),
  );
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);
  void exited.then(() => watchdog?.kill('SIGKILL'));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopChild(child, exited));

  const url = `http://${HOST}:${port}/`;
  const polling = new AbortController();
  const outcome = await Promise.race([
    pollUntilUp(url, polling.signal).then(() => ({ kind: 'ready' }) as const),
    closed.then((how) => ({ kind: 'exited', how }) as const),
    spawnFailed.then((error) => ({ kind: 'spawn-failed', error }) as const),
    delay(startTimeoutMs, undefined, { signal: polling.signal }).then(() => ({ kind: 'timeout' }) as const),
  ]);
  polling.abort();

  if (outcome.kind === 'ready' && child.pid !== undefined) {
    // The consumers stay attached, so the emulator never blocks on a full pipe, but neither the
    // process nor its pipes keep the caller alive: a CLI that exits early is not held up by it.
    child.unref();
    (child.stdout as Socket | null)?.unref();
    (child.stderr as Socket | null)?.unref();
    return { emulator: { host: `${HOST}:${port}`, pid: child.pid, stop } };
  }

  await stop();
  const output = tail.text();
  const shown = output ? `; its output ended with:\n${output}` : ' and printed nothing';
  switch (outcome.kind) {
    case 'spawn-failed':
      return {
        error: new Error(`could not run the ${spec.name} emulator ${launcher}: ${outcome.error.message}`, {
          cause: outcome.error,
        }),
      };
    case 'exited':
      return {
        error: new Error(`the ${spec.name} emulator exited with ${outcome.how} before it was ready${shown}`),
        exitOutput: output,
      };
    default:
      return {
        error: new Error(
          `the ${spec.name} emulator did not start in ${startTimeoutMs / 1000} s (no answer from ${url})${shown}`,
        ),
      };
  }
}

function* sdkRootCandidates(env: NodeJS.ProcessEnv): Generator<string> {
  const explicit = env['CLOUDSDK_ROOT_DIR'];
  if (explicit) {
    yield explicit;
    return;
  }
  const gcloud = onPath('gcloud', env);
  if (gcloud === undefined) return;
  const fromLink = dirname(dirname(realpathSync(gcloud)));
  yield fromLink;
  // Only when the layout is unusual: gcloud takes about a second to answer.
  const info = spawnSync(gcloud, ['info', '--format=value(installation.sdk_root)'], {
    env,
    encoding: 'utf8',
    timeout: DEFAULTS.gcloudInfoTimeoutMs,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const reported = info.status === 0 ? info.stdout.trim() : '';
  if (reported && reported !== fromLink) yield reported;
}

function assertJavaPresent(spec: EmulatorSpec, env: NodeJS.ProcessEnv): void {
  const javaHome = env['JAVA_HOME'];
  if (javaHome ? isExecutable(join(javaHome, 'bin', 'java')) : onPath('java', env) !== undefined) return;
  const where = javaHome ? `JAVA_HOME=${javaHome} has no bin/java` : 'no java on PATH';
  throw hinted(
    `the ${spec.name} emulator needs Java 11 or newer, but ${where}`,
    'install it with: sudo apt-get install default-jre-headless',
  );
}

function onPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function freePort(): Promise<number> {
  return listenOnce(0);
}

async function assertPortFree(spec: EmulatorSpec, port: number): Promise<void> {
  // Otherwise another process answering on the port would pass for our emulator being ready.
  try {
    await listenOnce(port);
  } catch (error) {
    throw new Error(`cannot start the ${spec.name} emulator: ${HOST}:${port} is already in use`, {
      cause: error,
    });
  }
}

async function pollUntilUp(url: string, signal: AbortSignal): Promise<void> {
  for (;;) {
    try {
      const response = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(DEFAULTS.probeTimeoutMs)]),
      });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await delay(DEFAULTS.pollIntervalMs, undefined, { signal });
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  // Unreferenced after startup; hold the event loop until the exit we are waiting for.
  child.ref();
  signalGroup(pid, 'SIGTERM');
  const escalate = setTimeout(() => signalGroup(pid, 'SIGKILL'), DEFAULTS.stopGraceMs);
  try {
    await exited;
    // The launcher may exit before its JVM: stopped means the port is free, so wait for the group.
    while (groupAlive(pid)) await delay(DEFAULTS.pollIntervalMs);
  } finally {
    clearTimeout(escalate);
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/**
 * A shell that blocks reading a pipe only this process writes to. When this process dies, however
 * it dies, the pipe closes and the shell stops the emulator's process group, which would
 * otherwise run forever.
 */
function startWatchdog(pid: number): ChildProcess {
  // A negative pid names the group (dash's kill takes no `--`).
  const script = 'read -r _; kill -TERM "-$1" 2>/dev/null; sleep 5; kill -KILL "-$1" 2>/dev/null';
  const watchdog = spawn('/bin/sh', ['-c', script, 'emulator-watchdog', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  // Best effort: without a shell, stop() still ends the emulator.
  watchdog.on('error', () => undefined);
  watchdog.stdin?.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

function outputTail(limit: number): { write: (chunk: string) => void; text: () => string } {
  const lines: string[] = [];
  let partial = '';
  return {
    write(chunk) {
      const parts = (partial + chunk).split(/\r?\n/);
      partial = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.length > limit) lines.splice(0, lines.length - limit);
    },
    text() {
      return [...lines, partial].filter((line) => line !== '').join('\n');
    },
  };
}
