import { readFile } from 'node:fs/promises';

import { ulid } from 'ulid';

import { loadConfig } from '../config.js';
import { OrchestratorError, messageOf } from '../errors.js';
import { decodeEvent } from '../events/decode.js';
import { createLogger } from '../logging.js';
import { startRuntime } from '../runtime.js';

/**
 * `run EVENT.json`: processes one event in-process, prints its `processing.completed` on stdout.
 * Exits 0 whatever the processors did; 1 when the file is not a valid event.
 */
export async function runCommand(file: string): Promise<number> {
  const config = loadConfig();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new OrchestratorError('EVENT_INVALID', `${file}: cannot read: ${messageOf(err)}`, { cause: err });
  }
  const decoded = decodeEvent(text);
  if (!decoded.ok) throw new OrchestratorError('EVENT_INVALID', `${file}: ${decoded.reason}`);

  const log = createLogger(config.logLevel);
  const runtime = await startRuntime(config, log);
  try {
    const result = await runtime.orchestrator.process(decoded.event, { sourceMessageId: `local-${ulid()}` });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await runtime.close();
  }
}
