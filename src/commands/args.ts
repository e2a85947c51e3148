import { parseArgs, type ParseArgsConfig } from 'node:util';

import { OrchestratorError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * A command's arguments, parsed strictly: an unknown option or a wrong number of positionals is
 * USAGE (exit 2) with one line naming the command. `--help` never reaches here (the CLI answers it).
 */
export function commandArgs<O extends Options>(
  command: string,
  args: string[],
  spec: { options: O; positionals: { min: number; max: number; what: string } },
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  const parsed = parseArgs({ args, options: spec.options, allowPositionals: true, strict: true });
  const { min, max, what } = spec.positionals;
  const count = parsed.positionals.length;
  if (count < min || count > max) {
    const wanted = max === 0 ? 'takes no arguments' : `takes ${what}`;
    throw new OrchestratorError('USAGE', `${command} ${wanted} (see ${command} --help)`);
  }
  return parsed;
}
