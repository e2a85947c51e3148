import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium, type BrowserContext, type Dialog, type Page } from 'playwright-core';

/** Debian's `chromium` package: the browser the page is tested in (playwright never downloads one). */
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_INSTALL = 'apt-get update && apt-get install -y chromium';

// Flags that work on a closed network: nothing phones home, nothing waits for a GPU or a sandbox.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// apt-get can wait for another install's lock; it gets this long before the test set-up gives up.
const INSTALL_TIMEOUT_MS = 8 * 60_000;

async function installed(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

function runShell(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`exited with ${code ?? signal}; last output:\n${output.slice(-1500)}`));
    });
  });
}

/**
 * Makes sure Debian's chromium is installed, installing it with apt-get when missing (the test
 * machine runs as root). When that fails, throws with how to install it: the browser test fails,
 * it never skips.
 */
export async function ensureChromium(
  { path, install }: { path: string; install: string } = { path: CHROMIUM_PATH, install: CHROMIUM_INSTALL },
): Promise<void> {
  if (await installed(path)) return;
  const how = `Install it as root with:\n  ${CHROMIUM_INSTALL}`;
  try {
    await runShell(install);
  } catch (err) {
    throw new Error(
      `The browser test needs Debian's chromium at ${path}, which is missing and could not be installed ` +
        `(${(err as Error).message}). ${how}`,
    );
  }
  if (!(await installed(path))) {
    throw new Error(`The install said it succeeded but ${path} is not there. ${how}`);
  }
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with a fresh profile folder (removed by `close`). */
export async function launchChromium(): Promise<TestBrowser> {
  await ensureChromium();
  const profile = await mkdtemp(join(tmpdir(), 'ops-browser-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
    return {
      context,
      async close() {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
}

/** A new tab that records every dialog (and dismisses it) and every script error. */
export async function openTab(
  browser: TestBrowser,
): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const page = await browser.context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (dialog: Dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return { page, dialogs, errors };
}
