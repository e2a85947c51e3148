import { loadConfig, processorSources } from '../config.js';
import { describeSources, discoverProcessors, originOf } from '../processors/discovery.js';
import { commandArgs } from './args.js';
import { formatTable } from './table.js';

/**
 * `processors`: the installed processors, one line each: id, version, the plugin contract it is
 * built for, its deadline, and where it comes from (its file in `PROCESSORS_DIR`, or
 * `package@version` of `PROCESSOR_PACKAGES`).
 */
export async function processorsCommand(args: string[]): Promise<number> {
  commandArgs('processors', args, { options: {}, positionals: { min: 0, max: 0, what: '' } });
  const config = loadConfig();
  const sources = processorSources(config);
  const installed = await discoverProcessors(sources);
  const rows = [...installed.values()].map((p) => [
    p.id,
    p.version,
    p.contractVersion ?? '-',
    p.timeoutMs === undefined ? `${config.processorTimeoutMs} ms (default)` : `${p.timeoutMs} ms`,
    originOf(p),
  ]);
  process.stdout.write(formatTable(['id', 'version', 'contract', 'timeout', 'from'], rows));
  if (rows.length === 0) process.stdout.write(`(no processors in ${describeSources(sources)})\n`);
  return 0;
}
