import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { loadConfig } from '../config.js';
import { decodeEvent } from '../events/decode.js';
import { createLogger } from '../logging.js';
import { examplesDir } from '../paths.js';
import { startRuntime } from '../runtime.js';
import { formatTable } from './table.js';

/**
 * `dev` (what `npm start` runs): processes every example event in-process, with the example
 * documents and purchases unless the environment names others, and prints each result and a
 * summary. (The Pub/Sub transport takes this command over once it exists.)
 */
export async function devCommand(): Promise<number> {
  const config = loadConfig({
    DOCUMENTS_DIR: join(examplesDir, 'documents'),
    PURCHASES_FILE: join(examplesDir, 'purchases.json'),
    ...process.env,
  });
  const eventsDir = join(examplesDir, 'events');
  const files = (await readdir(eventsDir)).filter((f) => f.endsWith('.json')).sort();
  const log = createLogger(config.logLevel);
  const runtime = await startRuntime(config, log);
  const rows: string[][] = [];
  try {
    for (const file of files) {
      const decoded = decodeEvent(await readFile(join(eventsDir, file), 'utf8'));
      if (!decoded.ok) {
        rows.push([file, '-', `invalid: ${decoded.reason}`, '', '', '', '']);
        continue;
      }
      const result = await runtime.orchestrator.process(decoded.event, { sourceMessageId: `dev-${file}` });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      const s = result.summary;
      rows.push([
        file,
        result.underwriting_id,
        result.overall_status,
        String(s.completed_count),
        String(s.failed_count),
        String(s.timeout_count),
        `${s.total_execution_time.toFixed(3)} s`,
      ]);
    }
  } finally {
    await runtime.close();
  }
  process.stdout.write(
    `\n${formatTable(['event', 'underwriting', 'status', 'completed', 'failed', 'timeout', 'time'], rows)}`,
  );
  process.stdout.write(
    `\nProcessed ${rows.length} example events from ${eventsDir} with the processors in ${config.processorsDir}.\n`,
  );
  return 0;
}
