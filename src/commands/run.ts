import { readFile } from 'node:fs/promises';

import { checkConfiguredPaths, loadConfig } from '../config.js';
import { OrchestratorError, messageOf } from '../errors.js';
import { decodeEvent } from '../events/decode.js';
import { ProcessorIdSchema, type UnderwritingCreated } from '../events/underwriting-created.js';
import { commandArgs } from './args.js';

/**
 * `run EVENT.json [--processors a,b] [--dry-run]`: processes one event in-process and prints its
 * `processing.completed` on stdout. `--processors` runs these instead of what the event
 * purchased; `--dry-run` says what would run, and why, and runs nothing. Exits 0 whatever the
 * processors did; 1 when the file is not a valid event.
 */
export async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = commandArgs('run', args, {
    options: { processors: { type: 'string' }, 'dry-run': { type: 'boolean' } },
    positionals: { min: 1, max: 1, what: 'one EVENT.json file' },
  });
  const only = values.processors === undefined ? undefined : processorList(values.processors);
  const config = loadConfig();
  const file = positionals[0] as string;
  const event = await readEvent(file);
  // Run only these: the same as an event that purchased exactly them.
  const chosen: UnderwritingCreated = only
    ? { ...event, data: { ...event.data, purchased_processors: only } }
    : event;

  if (values['dry-run']) {
    await checkConfiguredPaths(config);
    const { dryRun } = await import('./dry-run.js');
    process.stdout.write(await dryRun(config, chosen, { processorsOption: only !== undefined }));
    return 0;
  }
  const [{ ulid }, { createLogger }, { startRuntime }] = await Promise.all([
    import('ulid'),
    import('../logging.js'),
    import('../runtime.js'),
  ]);
  const log = createLogger(config.logLevel);
  const runtime = await startRuntime(config, log);
  try {
    const result = await runtime.orchestrator.process(chosen, {
      sourceMessageId: `local-${ulid()}`,
      transport: 'run',
      deliveryAttempt: 1,
    });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    await runtime.close();
  }
}

function processorList(value: string): string[] {
  const ids = value
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  if (ids.length === 0)
    throw new OrchestratorError('USAGE', '--processors: name at least one processor id (a,b)');
  const bad = ids.find((id) => !ProcessorIdSchema.safeParse(id).success);
  if (bad !== undefined)
    throw new OrchestratorError('USAGE', `--processors: "${bad}" is not a processor id (a-z, 0-9, _)`);
  return ids;
}

async function readEvent(file: string): Promise<UnderwritingCreated> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new OrchestratorError('EVENT_INVALID', `${file}: cannot read: ${messageOf(err)}`, { cause: err });
  }
  const decoded = decodeEvent(text);
  if (!decoded.ok) throw new OrchestratorError('EVENT_INVALID', `${file}: ${decoded.reason}`);
  return decoded.event;
}
