import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Runs `node ARGS` as a bench contender with only `env` (and PATH). Its stderr is read as a log
 * collector would, handed to `onStderr`, and its tail printed if it exits with an error. `launch`
 * may wrap the command line (to start it inside a cgroup, say).
 */
export function spawnContender(
  label: string,
  args: string[],
  env: Record<string, string>,
  onStderr: (chunk: string) => void = () => {},
  launch: (argv: string[]) => string[] = (argv) => argv,
): ChildProcess {
  const [file = process.execPath, ...rest] = launch([process.execPath, ...args]);
  const child = spawn(file, rest, {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-2000);
    onStderr(text);
  });
  child.once('exit', (code) => {
    if (code !== 0 && code !== null) console.error(`bench: ${label} exited with ${code}:\n${tail}`);
  });
  return child;
}
