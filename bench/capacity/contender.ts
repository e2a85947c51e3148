// One contender of the capacity bench (`serve`, or the reference) as its own process inside the
// memory cgroup, on a port of its own: when it answers /readyz, how much CPU it has used, whether
// it died (and how), and a stop that always ends it.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { packageRoot } from '../../src/paths.js';
import { spawnContender } from '../child.js';
import { processCpuMs } from '../cpu.js';
import type { MemoryCgroup } from './cgroup.js';

export type Kind = 'serve' | 'reference';

export const CONTENDER_ARGS: Record<Kind, string[]> = {
  serve: [join(packageRoot, 'dist', 'src', 'cli.js'), 'serve'],
  reference: [join(packageRoot, 'dist', 'bench', 'capacity', 'reference.js')],
};

/** Cloud Run's 10 s of grace after SIGTERM, and some: then SIGKILL. */
const STOP_GRACE_MS = 15_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The contender ended before the bench stopped it: what is being waited for will never come. */
export class ContenderExited extends Error {
  constructor(
    readonly label: string,
    readonly exit: Exit,
  ) {
    super(`bench: ${label} exited on its own (${exit.signal ?? `code ${String(exit.code)}`})`);
  }
}

export interface Contender {
  readonly label: string;
  readonly pid: number;
  readonly port: number;
  /** performance.now() just before the spawn. */
  readonly spawnedAt: number;
  /** `work`, unless the contender exits first: then a ContenderExited. */
  unlessExited<T>(work: Promise<T>): Promise<T>;
  /** Its CPU time so far, every thread, in ms (undefined off Linux). */
  cpuMs(): number | undefined;
  /** performance.now() when GET /readyz first answered 200 (polled every 10 ms). */
  ready(timeoutMs: number): Promise<number>;
  /** SIGTERM, then SIGKILL after the grace; resolves with how it ended. */
  stop(): Promise<Exit>;
}

/** A port nothing listens on now, for a contender to listen on. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('bench: no free port');
  return address.port;
}

export async function startContender(
  kind: Kind,
  label: string,
  env: Record<string, string>,
  cgroup: MemoryCgroup,
): Promise<Contender> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const logDir = process.env['BENCH_LOG_DIR'];
  const logFile = logDir && join(logDir, `${label.replace(/[^\w.-]+/g, '_')}-${port}.log`);
  const child: ChildProcess = spawnContender(
    label,
    CONTENDER_ARGS[kind],
    { ...env, PORT: String(port) },
    logFile ? (chunk) => appendFileSync(logFile, chunk) : undefined,
    cgroup.launch,
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`bench: ${label} could not be started`);
  let stopping = false;
  let exit: Exit | undefined;
  const exited = once(child, 'exit').then((args) => {
    const [code, signal] = args as [number | null, NodeJS.Signals | null];
    return (exit = { code, signal });
  });
  const died = exited.then((e) => {
    if (!stopping) throw new ContenderExited(label, e);
    return new Promise<never>(() => {});
  });
  // Read by unlessExited; until then, an early exit is not an unhandled rejection.
  died.catch(() => {});
  const unlessExited = <T>(work: Promise<T>): Promise<T> => Promise.race([work, died]);
  return {
    label,
    pid,
    port,
    spawnedAt,
    unlessExited,
    cpuMs: () => processCpuMs(pid),
    ready: (timeoutMs) => unlessExited(pollReady(port, label, timeoutMs)),
    async stop() {
      stopping = true;
      if (exit) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      const ended = await exited;
      clearTimeout(timer);
      return ended;
    },
  };
}

async function pollReady(port: number, label: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const url = `http://127.0.0.1:${port}/readyz`;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now();
    } catch {
      // Not listening yet.
    }
    await sleep(10);
  }
  throw new Error(`bench: ${label} did not answer GET /readyz 200 within ${timeoutMs / 1000} s`);
}
