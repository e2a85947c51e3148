import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';

import { OrchestratorError, unreadableReason } from '../errors.js';
import type { DocumentsConfig } from './documents.js';
import type { ProcessorsConfig } from './processors.js';

/** The paths the configuration names (absolute, or unset). */
type ConfiguredPaths = Pick<ProcessorsConfig, 'processorsDir' | 'purchasesFile'> &
  Pick<DocumentsConfig, 'documentsDir'>;

function configuredPaths(config: ConfiguredPaths) {
  return [
    { variable: 'PROCESSORS_DIR', path: config.processorsDir, folder: true },
    { variable: 'DOCUMENTS_DIR', path: config.documentsDir, folder: true },
    { variable: 'PURCHASES_FILE', path: config.purchasesFile, folder: false },
  ] as const;
}

function invalid(line: string): never {
  throw new OrchestratorError('CONFIG_INVALID', line);
}

/**
 * Start-up check of the folders and file the configuration names: each that is set must exist,
 * be a folder (a file for `PURCHASES_FILE`) and be readable. A typo would otherwise fail every
 * event (every document "not found") instead of the start. Throws CONFIG_INVALID naming the
 * variable: the CLI exits 2.
 */
export async function checkConfiguredPaths(config: ConfiguredPaths): Promise<void> {
  for (const { variable, path, folder } of configuredPaths(config)) {
    if (path === undefined) continue;
    try {
      const info = await stat(path);
      if (folder && !info.isDirectory()) invalid(`${variable}: ${path} is not a folder`);
      if (!folder && !info.isFile()) invalid(`${variable}: ${path} is not a file`);
      await access(path, folder ? constants.R_OK | constants.X_OK : constants.R_OK);
    } catch (err) {
      if (err instanceof OrchestratorError) throw err;
      invalid(`${variable}: ${path} ${unreadableReason(err)}`);
    }
  }
}
