import { Worker } from 'node:worker_threads';

import { baselineInput } from './setup.js';

/** One processor run in a fresh thread: spawn, run the plugin, answer, exit. */
function runInFreshWorker(spawnWorker: string, file: string, input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(spawnWorker, { workerData: { file, input } });
    let answered = false;
    worker.once('message', (outcome: { status?: unknown }) => {
      answered = outcome.status === 'completed';
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (answered) resolve();
      else reject(new Error(`a fresh worker exited with code ${code} without completing`));
    });
  });
}

/**
 * Events/s when every processor run spawns its own `new Worker` (the runs of an event at once,
 * events one after another).
 */
export async function workerPerRunThroughput(
  files: readonly string[],
  spawnWorker: string,
  events: number,
  warmupEvents: number,
): Promise<number> {
  const input = baselineInput();
  const event = () => Promise.all(files.map((file) => runInFreshWorker(spawnWorker, file, input)));
  for (let i = 0; i < warmupEvents; i++) await event();
  const start = performance.now();
  for (let i = 0; i < events; i++) await event();
  return events / ((performance.now() - start) / 1000);
}
