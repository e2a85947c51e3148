import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from './paths.js';

let cached: string | undefined;

/** The version in the package's own package.json (read once, when first asked). */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string })
    .version;
  return cached;
}

/**
 * What logs report as `serviceContext.version`: the Cloud Run revision (`K_REVISION`) when there
 * is one, so that Error Reporting tells deployments apart; else the package version.
 */
export function serviceVersion(env: NodeJS.ProcessEnv = process.env): string {
  return env['K_REVISION'] || packageVersion();
}
