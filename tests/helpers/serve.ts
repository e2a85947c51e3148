import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import { repoRoot } from './fixtures.js';

export type LogLine = Record<string, unknown> & { message?: string };

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Every stderr line so far, parsed (a line that is not JSON is `{ raw }`). */
  readonly logs: readonly LogLine[];
  /** Resolves with the first log line (past or future) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The HTTP port, once the service logs that it is serving. */
  port(): Promise<number>;
  /** Exit code and signal, and when it exited (`performance.now()`). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** How to start it: node's arguments and working folder. */
export interface Launch {
  args: string[];
  cwd: string;
}

/** The built CLI's `serve` (built by `npm test` before vitest), from the checkout. */
const BUILT_SERVE: Launch = { args: [join(repoRoot, 'dist', 'src', 'cli.js'), 'serve'], cwd: repoRoot };

/** Runs `serve` as its own process, with only `env` (and PATH) in its environment. */
export function startServe(env: Record<string, string>, launch: Launch = BUILT_SERVE): ServeProcess {
  const child = spawn(process.execPath, launch.args, {
    cwd: launch.cwd,
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ raw: line });
      }
    }
    waiters.forEach((wake) => wake());
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => {
      child.once('exit', (code, signal) => {
        const at = performance.now();
        // Let the last stderr chunks arrive before anyone reads the logs.
        child.stderr?.once('end', () => resolve({ code, signal, at }));
        if (child.stderr?.readableEnded ?? true) resolve({ code, signal, at });
      });
    },
  );

  function waitForLog(match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = logs.find(match);
        if (line) finish(() => resolve(line));
        else if (child.exitCode !== null || child.signalCode !== null) {
          finish(() => reject(new Error(`serve exited; its logs:\n${dump()}`)));
        }
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no matching log line in ${timeoutMs} ms; logs:\n${dump()}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', check);
        settle();
      };
      waiters.add(check);
      child.on('exit', check);
      check();
    });
  }

  const dump = () => logs.map((l) => JSON.stringify(l)).join('\n');

  return {
    child,
    logs,
    waitForLog,
    // A start-up takes a second or two, and far longer on a machine loaded many times over (15 s
    // was seen at a load of 25 on 2 cores): the bound only guards against one that never comes.
    port: async () => Number((await waitForLog((l) => l.message === 'serving', 90_000))['port']),
    exited,
  };
}

/** Stops a serve process if it still runs (test cleanup). */
export async function killServe(serve: ServeProcess | undefined): Promise<void> {
  if (!serve || serve.child.exitCode !== null || serve.child.signalCode !== null) return;
  serve.child.kill('SIGKILL');
  await serve.exited;
}
