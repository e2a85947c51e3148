#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { OrchestratorError, messageOf } from './errors.js';
import { devCommand } from './commands/dev.js';
import { newProcessorCommand } from './commands/new-processor.js';
import { processorsCommand } from './commands/processors.js';
import { replayCommand } from './commands/replay.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';

const USAGE = `Usage: processor-orchestrator <command>

Commands:
  serve               serve HTTP on PORT (push, probes); pull from UNDERWRITING_SUBSCRIPTION when set
  dev                 the whole service locally, on the Pub/Sub emulator (npm start)
  replay FILE|DIR...  publish events to the emulator, wait for their results, print a summary
                        --out DIR      write each result to DIR/{name}.json
                        --expect DIR   compare each result with DIR/{name}.json; exit 1 on a difference
                        --timeout S    seconds to wait for the results (default 60)
                        --allow-production   publish to Pub/Sub itself (GOOGLE_CLOUD_PROJECT)
  run EVENT.json      process one underwriting.created event in-process; print processing.completed
  processors          list the installed processors (id, version, timeout, file)
  new-processor NAME  scaffold processors/NAME/ (index.ts and a passing index.test.ts)

Configuration is read from the environment: see README.md.`;

/** A command that takes no arguments. */
function noArguments(command: string, args: string[]): void {
  if (args.length > 0) throw new OrchestratorError('USAGE', `${command} takes no arguments`);
}

/** Exit codes: 0 done; 1 the input could not be processed; 2 usage or configuration error. */
async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  // Each command parses its own arguments.
  switch (command) {
    case 'serve':
      noArguments(command, args);
      return serveCommand();
    case 'run': {
      const { positionals } = parseArgs({ args, allowPositionals: true });
      if (positionals.length !== 1) throw new OrchestratorError('USAGE', 'run takes one EVENT.json file');
      return runCommand(positionals[0] as string);
    }
    case 'processors':
      noArguments(command, args);
      return processorsCommand();
    case 'dev':
      noArguments(command, args);
      return devCommand();
    case 'replay':
      return replayCommand(args);
    case 'new-processor': {
      const { positionals } = parseArgs({ args, allowPositionals: true });
      if (positionals.length !== 1) throw new OrchestratorError('USAGE', 'new-processor takes one NAME');
      return newProcessorCommand(positionals[0] as string);
    }
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
