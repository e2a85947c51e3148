import { relative } from 'node:path';

import { loadConfig } from '../config.js';
import { discoverProcessors } from '../processors/discovery.js';
import { commandArgs } from './args.js';
import { formatTable } from './table.js';

/** `processors`: the installed processors, one line each. */
export async function processorsCommand(args: string[]): Promise<number> {
  commandArgs('processors', args, { options: {}, positionals: { min: 0, max: 0, what: '' } });
  const config = loadConfig();
  const installed = await discoverProcessors(config.processorsDir);
  const rows = [...installed.values()].map((p) => [
    p.id,
    p.version,
    p.timeoutMs === undefined ? `${config.processorTimeoutMs} ms (default)` : `${p.timeoutMs} ms`,
    relative(process.cwd(), p.file) || p.file,
  ]);
  process.stdout.write(formatTable(['id', 'version', 'timeout', 'file'], rows));
  if (rows.length === 0) process.stdout.write(`(no processors in ${config.processorsDir})\n`);
  return 0;
}
