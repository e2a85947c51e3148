import { OrchestratorError } from '../errors.js';
import { commandArgs } from './args.js';
import { bulkRerun } from './bulk-rerun.js';
import { createOpsClient, OPS_CLIENT_OPTIONS } from './ops-client.js';

/**
 * `rerun UNDERWRITING_ID --reason TEXT [--processors failed|a,b]`: asks the service to run those
 * processors of the latest execution again (default: the failed and timed-out ones), reusing the
 * others' outcomes. Prints the new execution's key (202: it runs on whichever instance takes it).
 * With `--processor ID` instead of an underwriting: a bulk re-run (bulk-rerun.ts).
 */
export async function rerunCommand(args: string[]): Promise<number> {
  const { values, positionals } = commandArgs('rerun', args, {
    options: {
      ...OPS_CLIENT_OPTIONS,
      processors: { type: 'string' },
      reason: { type: 'string' },
      processor: { type: 'string', multiple: true },
      status: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      'error-code': { type: 'string' },
      'error-text': { type: 'string' },
      pace: { type: 'string' },
      key: { type: 'string' },
      'dry-run': { type: 'boolean' },
      wait: { type: 'boolean' },
    },
    positionals: { min: 0, max: 1, what: 'one UNDERWRITING_ID, or --processor ID for a bulk re-run' },
  });
  const client = createOpsClient(values);
  if (values.processor !== undefined) {
    if (positionals.length > 0 || values.processors !== undefined) {
      throw new OrchestratorError(
        'USAGE',
        'rerun takes an UNDERWRITING_ID (with --processors) or --processor ID (bulk), not both',
      );
    }
    return bulkRerun(client, {
      processors: values.processor,
      status: values.status,
      since: values.since,
      until: values.until,
      errorCode: values['error-code'],
      errorText: values['error-text'],
      reason: values.reason,
      pace: values.pace,
      key: values.key,
      dryRun: values['dry-run'] ?? false,
      wait: values.wait ?? false,
      json: values.json ?? false,
    });
  }
  const id = positionals[0];
  if (id === undefined)
    throw new OrchestratorError(
      'USAGE',
      'rerun takes one UNDERWRITING_ID, or --processor ID (see rerun --help)',
    );
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
