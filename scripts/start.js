// `npm start [-- --transport pull|push|both]`: builds, then runs `processor-orchestrator dev`.
// Before the build (which takes a while), it checks what would stop dev anyway: PORT taken, or an
// `npm start` of this checkout still running, whose dist/ the build would replace under it (its
// worker threads load processors and their entry from dist/ as they start). The PORT check is the
// one dev makes again itself (src/port.ts); this script runs before anything is compiled.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import process from 'node:process';

const HOST = '127.0.0.1';
const LOCK = 'node_modules/.cache/processor-orchestrator/npm-start.json';

/** The fatal line, as the CLI writes it on a terminal. */
function fail(message) {
  process.stderr.write(`processor-orchestrator: ${message}\n`);
  process.exit(1);
}

function portTaken(port) {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err) => resolve(err.code === 'EADDRINUSE'));
    probe.listen(port, HOST, () => probe.close(() => resolve(false)));
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The npm start holding the lock, if it still runs (and is not this one). */
function runningStart() {
  try {
    const held = JSON.parse(readFileSync(LOCK, 'utf8'));
    return Number.isInteger(held.pid) && held.pid !== process.pid && alive(held.pid) ? held : undefined;
  } catch {
    return undefined;
  }
}

const raw = process.env.PORT || '8080';
const port = /^\d+$/.test(raw) && Number(raw) <= 65_535 ? Number(raw) : undefined;
// A PORT that is not a port is dev's to report (CONFIG_INVALID).
if (port !== undefined && port !== 0 && (await portTaken(port))) {
  fail(`PORT: ${port} is in use by another process on ${HOST}; stop that process or set PORT to a free port`);
}
const other = runningStart();
if (other) {
  fail(
    `another npm start of this checkout is running (pid ${other.pid}, PORT ${other.port}): building now ` +
      'would replace the code it runs; stop it first (Ctrl-C in its terminal)',
  );
}
mkdirSync(dirname(LOCK), { recursive: true });
// Left by an npm start that is gone: taken over. (Two started at the same instant may both get
// past this; it guards the usual case, a second terminal.)
rmSync(LOCK, { force: true });
try {
  writeFileSync(LOCK, JSON.stringify({ pid: process.pid, port: raw }), { flag: 'wx' });
} catch {
  fail('another npm start of this checkout is starting; stop it first');
}
const unlock = () => {
  if (runningStart() === undefined) rmSync(LOCK, { force: true });
};

const build = spawnSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' });
if (build.status !== 0) {
  unlock();
  process.exit(build.status ?? 1);
}
const dev = spawn(process.execPath, ['dist/src/cli.js', 'dev', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
// Ctrl-C reaches dev from the terminal itself; a signal sent to this process alone is passed on.
process.on('SIGINT', () => {});
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => dev.kill(signal));
dev.on('exit', (code, signal) => {
  unlock();
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
});
