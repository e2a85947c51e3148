import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

import { repoRoot } from './fixtures.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`dist/src/cli.js`, built by `npm test` before vitest) as a user would. */
export function cli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  cwd = repoRoot,
): Promise<CliResult> {
  return cliWithNodeOptions(args, env, [], timeoutMs, cwd);
}

/** `cli`, with options for node itself before the script (`--import …`). */
export function cliWithNodeOptions(
  args: string[],
  env: Record<string, string>,
  nodeOptions: string[],
  timeoutMs = 30_000,
  cwd = repoRoot,
): Promise<CliResult> {
  return runNode([...nodeOptions, join(repoRoot, 'dist', 'src', 'cli.js'), ...args], { env, timeoutMs, cwd });
}

/** `node ARGS` in `cwd`, with PATH and `env` as its whole environment: its exit code and output. */
export function runNode(
  args: string[],
  {
    env = {},
    timeoutMs = 30_000,
    cwd = repoRoot,
  }: { env?: Record<string, string>; timeoutMs?: number; cwd?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON log entry a failed command writes as its fatal line when stderr is not a terminal. */
export interface FatalEntry {
  severity: string;
  message: string;
  code: string;
  exit_code: number;
  serviceContext: { service: string; version: string };
  stack_trace?: string;
}

/** The last line of `stderr`, parsed as the fatal entry (what Cloud Logging keeps whole). */
export function fatalEntry(stderr: string): FatalEntry {
  const lines = stderr.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '') as FatalEntry;
}

/**
 * `stderr` that holds nothing but one fatal entry (no stack trace, no other output), parsed.
 * Throws when there is anything else.
 */
export function onlyFatal(stderr: string): FatalEntry {
  if (!stderr.endsWith('\n') || stderr.indexOf('\n') !== stderr.length - 1) {
    throw new Error(`expected exactly one fatal line on stderr, got:\n${stderr}`);
  }
  return fatalEntry(stderr);
}

/** A port nothing holds on loopback now (the OS picks it; free again once this resolves). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Runs `body` with a port another server holds on `host` (released after). */
export async function withPortTaken<T>(host: string, body: (port: number) => Promise<T>): Promise<T> {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, host, resolve));
  try {
    return await body((taken.address() as AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
}
