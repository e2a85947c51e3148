#!/usr/bin/env node
// Start-up time is part of the interface: this file imports nothing heavy. Each command's module
// is imported only when that command runs, so `--help` or `processors` never loads Pub/Sub.
import { describeFatal, formatFatal } from './fatal.js';

/** One command: its usage text (shown by `COMMAND --help`) and how to load and run it. */
interface Command {
  usage: string;
  summary: string;
  run(args: string[]): Promise<number>;
}

// Kept here, not imported: --help must not load the client.
const OPS_OPTIONS = `  --url URL             the service (default http://127.0.0.1:8080, what dev serves)
  --token TOKEN         an ID token to send, e.g. "$(gcloud auth print-identity-token --audiences=AUDIENCE)";
                        without it, one for --audience (default OPS_AUDIENCE, else the URL) comes from
                        Application Default Credentials, except on a loopback URL
  --audience AUDIENCE   the audience of that token
  --json                print the API's answer as it is`;

const COMMANDS: Record<string, Command> = {
  serve: {
    usage: 'serve',
    summary: 'serve HTTP on PORT (push, probes); pull from UNDERWRITING_SUBSCRIPTION when set',
    run: async (args) => (await import('./commands/serve.js')).serveCommand(args),
  },
  dev: {
    usage: `dev [options]
  --transport T         how events arrive: push (default, as on Cloud Run), pull, or both
                        (each event twice, once by each: the ledger runs and publishes it once)`,
    summary: 'the whole service locally, on the Pub/Sub emulator (npm start)',
    run: async (args) => (await import('./commands/dev.js')).devCommand(args),
  },
  replay: {
    usage: `replay FILE|DIR... [options]
  --out DIR             write each result to DIR/{name}.json
  --expect DIR          compare each result with DIR/{name}.json; exit 1 on a difference
  --timeout S           seconds to wait for the results (default 60)
  --allow-production    publish to Pub/Sub itself (GOOGLE_CLOUD_PROJECT)`,
    summary: 'publish events to the emulator, wait for their results, print a summary',
    run: async (args) => (await import('./commands/replay.js')).replayCommand(args),
  },
  run: {
    usage: `run EVENT.json [options]
  --processors a,b      run only these processors (instead of what the event purchased)
  --dry-run             say which processors would run and why, their deadlines, and which
                        documents resolve or are missing; run nothing`,
    summary: 'process one underwriting.created event in-process; print processing.completed',
    run: async (args) => (await import('./commands/run.js')).runCommand(args),
  },
  status: {
    usage: `status UNDERWRITING_ID [options]
${OPS_OPTIONS}`,
    summary: "show an underwriting's executions from a running service's operations API",
    run: async (args) => (await import('./commands/status.js')).statusCommand(args),
  },
  rerun: {
    usage: `rerun UNDERWRITING_ID|--processor ID [options]
  --processors LIST     failed (default: the failed and timed-out ones) or a,b
  --reason TEXT         why (recorded with who asked; required, but for --dry-run)
 bulk, every underwriting whose latest execution has the processor failed or timed out:
  --processor ID        the processor (repeat for more)
  --status S            failed (default) or timeout
  --since T             completed since: 30m, 6h, 2d before now, or an ISO time (required)
  --until T             and until (default: now)
  --error-code C        only FAILED entries with this code (PROCESSOR_PAUSED, …)
  --error-text T        only FAILED entries whose message contains T
  --dry-run             count them and show some; start nothing
  --pace N              re-run requests per second (default 2)
  --key K               the job's idempotency key: the same key finds the same job (default: new)
  --wait                follow the job's progress until it is over
${OPS_OPTIONS}`,
    summary:
      'run processors of an underwriting again, or (--processor) every failed run of a processor in bulk, reusing the other outcomes',
    run: async (args) => (await import('./commands/rerun.js')).rerunCommand(args),
  },
  pause: {
    usage: `pause PROCESSOR_ID [options]
  --reason TEXT         why (required; every entry of the processor names it)
${OPS_OPTIONS}`,
    summary: 'stop calling a processor on every instance: its entries are FAILED with PROCESSOR_PAUSED',
    run: async (args) => (await import('./commands/pause.js')).pauseCommand('pause', args),
  },
  resume: {
    usage: `resume PROCESSOR_ID [options]
  --reason TEXT         why (optional, recorded)
${OPS_OPTIONS}`,
    summary: 'call a paused processor again, on every instance',
    run: async (args) => (await import('./commands/pause.js')).pauseCommand('resume', args),
  },
  processors: {
    usage: 'processors',
    summary: 'list the installed processors (id, version, contract, timeout, where from)',
    run: async (args) => (await import('./commands/processors.js')).processorsCommand(args),
  },
  'new-processor': {
    usage: `new-processor NAME [options]
  --package DIR         a standalone processor package in DIR (named after it), for your own
                        repository: the processor, its test with the kit, package.json, tsconfig, README`,
    summary: 'scaffold processors/NAME/ (index.ts and a passing index.test.ts), or a processor package',
    run: async (args) => (await import('./commands/new-processor.js')).newProcessorCommand(args),
  },
};

function usage(): string {
  const synopses = Object.values(COMMANDS).map(
    ({ usage: text }) => text.split('\n', 1)[0]?.replace(/ \[options\]$/, '') ?? '',
  );
  const width = Math.max(20, ...synopses.map((s) => s.length + 2));
  const rows = Object.values(COMMANDS).map(
    ({ summary }, i) => `  ${(synopses[i] ?? '').padEnd(width)}${summary}`,
  );
  return [
    'Usage: processor-orchestrator <command> [options]',
    '',
    'Commands:',
    ...rows,
    '',
    'Options: --help, -h (also after a command), --version',
    'Configuration is read from the environment: see docs/configuration.md.',
  ].join('\n');
}

function commandUsage(command: Command): string {
  return `Usage: processor-orchestrator ${command.usage}\n\n${command.summary}\n`;
}

const isHelp = (arg: string) => arg === '--help' || arg === '-h';

/** Exit codes: 0 done; 1 the input could not be processed; 2 usage or configuration error. */
async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || isHelp(name)) {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { packageVersion } = await import('./version.js');
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    const { OrchestratorError } = await import('./errors.js');
    throw new OrchestratorError('USAGE', `unknown command "${name}" (see --help)`);
  }
  if (args.some(isHelp)) {
    process.stdout.write(commandUsage(command));
    return 0;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Never throws: whatever was thrown becomes one line (a JSON entry when stderr is no terminal).
    const fatal = describeFatal(err);
    process.stderr.write(formatFatal(fatal, process.stderr.isTTY === true));
    process.exitCode = fatal.exitCode;
  },
);
