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

/** Values of `--name=value` in a gcloud command's arguments. */
export function flagValues(args: readonly string[], name: string): string[] {
  return args.filter((arg) => arg.startsWith(`--${name}=`)).map((arg) => arg.slice(name.length + 3));
}

/** The one value of `--name=value`; fails when the flag is missing or given twice. */
export function flagValue(args: readonly string[], name: string): string {
  const values = flagValues(args, name);
  if (values.length !== 1) throw new Error(`expected one --${name}=…, found ${values.length}`);
  return values[0] as string;
}

/** `k=v,k=v` (gcloud's dictionary flags) as an object; a key given twice fails. */
export function dictionary(value: string): Record<string, string> {
  const entries = value.split(',').map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`not KEY=VALUE: ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)] as const;
  });
  const keys = entries.map(([key]) => key);
  const twice = keys.filter((key, i) => keys.indexOf(key) !== i);
  if (twice.length > 0) throw new Error(`${twice.join(', ')} given twice in ${value}`);
  return Object.fromEntries(entries);
}

/**
 * A `gcloud run deploy` (or worker-pools deploy) argument list's arguments for one container
 * (`--container=NAME` up to the next one), or, with no name, the resource-wide ones before the
 * first `--container`.
 */
export function containerArgs(args: readonly string[], container?: string): string[] {
  const starts = args.flatMap((arg, i) => (arg.startsWith('--container=') ? [i] : []));
  if (container === undefined) return args.slice(0, starts[0] ?? args.length);
  const at = args.indexOf(`--container=${container}`);
  if (at < 0) throw new Error(`no --container=${container} in ${args.join(' ')}`);
  return args.slice(at + 1, starts.find((i) => i > at) ?? args.length);
}
