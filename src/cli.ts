#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { OrchestratorError, messageOf } from './errors.js';
import { devCommand } from './commands/dev.js';
import { processorsCommand } from './commands/processors.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';

const USAGE = `Usage: processor-orchestrator <command>

Commands:
  serve               serve HTTP on PORT; pull from UNDERWRITING_SUBSCRIPTION when it is set
  dev                 process the example events in-process and print their results (npm start)
  run EVENT.json      process one underwriting.created event in-process; print processing.completed
  processors          list the installed processors (id, version, timeout, file)

Configuration is read from the environment: see README.md.`;

/** Exit codes: 0 done; 1 the input could not be processed; 2 usage or configuration error. */
async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'serve':
      if (args.length > 0) throw new OrchestratorError('USAGE', 'serve takes no arguments');
      return serveCommand();
    case 'run':
      if (args.length !== 1) throw new OrchestratorError('USAGE', 'run takes one EVENT.json file');
      return runCommand(args[0] as string);
    case 'processors':
      return processorsCommand();
    case 'dev':
      return devCommand();
    default:
      throw new OrchestratorError('USAGE', `unknown command "${command}" (see --help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // One line, never a stack trace, for what a user can fix; the stack only for our own bugs.
    if (err instanceof OrchestratorError) {
      process.stderr.write(`processor-orchestrator: ${err.message}\n`);
      process.exitCode = err.code === 'CONFIG_INVALID' || err.code === 'USAGE' ? 2 : 1;
    } else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`processor-orchestrator: ${messageOf(err)}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(
        `processor-orchestrator: unexpected error: ${(err as Error).stack ?? messageOf(err)}\n`,
      );
      process.exitCode = 1;
    }
  },
);
