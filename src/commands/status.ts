import { UnderwritingViewSchema, type ExecutionView } from '../ops/views.js';
import { commandArgs } from './args.js';
import { createOpsClient, OPS_CLIENT_OPTIONS } from './ops-client.js';
import { formatTable } from './table.js';

/** `status UNDERWRITING_ID`: every execution of an underwriting, newest first, as tables. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = commandArgs('status', args, {
    options: OPS_CLIENT_OPTIONS,
    positionals: { min: 1, max: 1, what: 'one UNDERWRITING_ID' },
  });
  const id = positionals[0] as string;
  const client = createOpsClient(values);
  const answer = await client.get(`/ops/underwritings/${encodeURIComponent(id)}`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return 0;
  }
  const view = UnderwritingViewSchema.parse(answer);
  process.stdout.write(view.executions.map(formatExecution).join('\n'));
  return 0;
}

/** One execution: a line about it, then one row per processor. */
export function formatExecution(execution: ExecutionView): string {
  const head = [
    `execution ${execution.key}`,
    execution.overall_status ?? 'running',
    `received ${execution.received_at}`,
    execution.finished_at ? `published ${execution.finished_at}` : 'not published yet',
    `deliveries ${execution.deliveries}`,
  ].join('  ');
  const rerun = execution.rerun
    ? `  re-run of ${execution.rerun.of} (${execution.rerun.processors.join(', ')}) by ${execution.rerun.requested_by}: ${execution.rerun.reason}\n`
    : '';
  const seconds = (s: number | null) => (s === null ? '-' : s.toFixed(3));
  const rows = execution.processors.map((p) => [
    p.processor_id,
    p.timeout_phase ? `${p.status} (${p.timeout_phase})` : p.status,
    String(p.attempts),
    seconds(p.queue_wait),
    seconds(p.run_time),
    p.reused ? 'yes' : '',
    oneLine(p.error_message ?? ''),
  ]);
  const table = formatTable(
    ['processor', 'status', 'attempts', 'queue s', 'run s', 'reused', 'error'],
    rows,
    new Set([2, 3, 4]),
  );
  return `${head}\n${rerun}${table}`;
}

const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
};
