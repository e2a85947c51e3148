// What a service has open, and how it closes: each resource is registered with its close as it
// is opened; `close` closes them the last opened first, on every path (a start-up step that
// fails, a stop, a fatal error). A close that fails is logged and the rest still close.
import type { Logger } from './logging.js';

/** A stop asked for while the service was starting: what was opened is closed, nothing more starts. */
export class StoppedWhileStarting extends Error {
  constructor(readonly reason: unknown) {
    super(`stopped while starting (${String(reason)})`);
  }
}

export interface Lifecycle {
  /**
   * Registers the close of what was just opened. Returns that close, for a stop that needs it
   * earlier than its turn: it runs once whoever calls it, and never rejects (a failure is logged).
   */
  add(name: string, close: () => unknown): () => Promise<void>;
  /**
   * `work`'s result, unless a stop is asked for first (the `signal`): then `StoppedWhileStarting`.
   * Await through it only work whose resources are registered already.
   */
  until<T>(work: T | Promise<T>): Promise<T>;
  /** Closes what is open, the last opened first. Resolves true when every close succeeded. Idempotent. */
  close(): Promise<boolean>;
}

export function createLifecycle(log: Logger, signal?: AbortSignal): Lifecycle {
  const opened: (() => Promise<void>)[] = [];
  let clean = true;
  let closing: Promise<boolean> | undefined;
  let closed = false;
  const stopped = new Promise<never>((_, reject) => {
    const stop = () => reject(new StoppedWhileStarting(signal?.reason));
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
  stopped.catch(() => {});

  return {
    add(name, close) {
      let done: Promise<void> | undefined;
      const closeOnce = () =>
        (done ??= (async () => {
          try {
            await close();
          } catch (err) {
            clean = false;
            log.error({ err, resource: name }, `${name} did not close`);
          }
        })());
      opened.push(closeOnce);
      // Opened once everything has closed: it closes at once (while closing: next, see `close`).
      if (closed) void closeOnce();
      return closeOnce;
    },
    until: (work) => Promise.race([stopped, work]),
    close() {
      closing ??= (async () => {
        for (let last = opened.pop(); last; last = opened.pop()) await last();
        closed = true;
        return clean;
      })();
      return closing;
    },
  };
}
