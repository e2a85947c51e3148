import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const ESCAPES = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/**
 * The installed gcloud's `--help` page of `command` (e.g. `run deploy`), without terminal
 * escapes. Fails, naming `purpose`, when gcloud cannot run: the check is never skipped.
 */
export async function gcloudHelp(command: string, purpose: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync('gcloud', [...command.split(' '), '--help'], {
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
    });
    return stdout.replace(ESCAPES, '');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gcloud is not on PATH' : String(err);
    throw new Error(`cannot check ${purpose}: ${reason} (deploy/install-emulator.sh installs it)`);
  }
}

/** The flags a `gcloud … --help` page defines: its flag entries and the gcloud-wide flags. */
export function definedFlags(help: string): Set<string> {
  const flags = new Set<string>();
  for (const m of help.matchAll(/^ +--(\[no-\])?([a-z][a-z0-9-]*)/gm)) {
    flags.add(m[2] as string);
    if (m[1]) flags.add(`no-${m[2]}`);
  }
  const wide = /GCLOUD WIDE FLAGS\n([\s\S]*?)\n\n/.exec(help)?.[1] ?? '';
  for (const m of wide.matchAll(/--([a-z][a-z0-9-]*)/g)) flags.add(m[1] as string);
  return flags;
}
