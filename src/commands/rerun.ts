import { OrchestratorError } from '../errors.js';
import { commandArgs } from './args.js';
import { createOpsClient, OPS_CLIENT_OPTIONS } from './ops-client.js';

/**
 * `rerun UNDERWRITING_ID --reason TEXT [--processors failed|a,b]`: asks the service to run those
 * processors of the latest execution again (default: the failed and timed-out ones), reusing the
 * others' outcomes. Prints the new execution's key (202: it runs on whichever instance takes it).
 */
export async function rerunCommand(args: string[]): Promise<number> {
  const { values, positionals } = commandArgs('rerun', args, {
    options: { ...OPS_CLIENT_OPTIONS, processors: { type: 'string' }, reason: { type: 'string' } },
    positionals: { min: 1, max: 1, what: 'one UNDERWRITING_ID' },
  });
  const id = positionals[0] as string;
  if (values.reason === undefined || values.reason.trim() === '') {
    throw new OrchestratorError('USAGE', 'rerun needs --reason TEXT: it is recorded with who asked');
  }
  const chosen = values.processors ?? 'failed';
  const processors =
    chosen === 'failed'
      ? 'failed'
      : chosen
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '');
  const client = createOpsClient(values);
  const answer = (await client.post(`/ops/underwritings/${encodeURIComponent(id)}/rerun`, {
    processors,
    reason: values.reason,
  })) as { key?: unknown };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    `re-run of ${id} requested: execution ${String(answer.key)}\n` +
      `follow it with: npx processor-orchestrator status ${id}${values.url ? ` --url ${values.url}` : ''}\n`,
  );
  return 0;
}
