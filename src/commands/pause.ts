import { OrchestratorError } from '../errors.js';
import { PauseAnswerSchema } from '../ops/views.js';
import { commandArgs } from './args.js';
import { createOpsClient, OPS_CLIENT_OPTIONS } from './ops-client.js';

/**
 * `pause ID --reason TEXT` and `resume ID [--reason TEXT]`: pauses a processor on every instance
 * (its entries are FAILED with PROCESSOR_PAUSED, it is not called) or lifts the pause.
 */
export async function pauseCommand(action: 'pause' | 'resume', args: string[]): Promise<number> {
  const { values, positionals } = commandArgs(action, args, {
    options: { ...OPS_CLIENT_OPTIONS, reason: { type: 'string' } },
    positionals: { min: 1, max: 1, what: 'one processor ID' },
  });
  const id = positionals[0] as string;
  const reason = values.reason?.trim();
  if (action === 'pause' && !reason) {
    throw new OrchestratorError(
      'USAGE',
      'pause needs --reason TEXT: it is recorded, and every entry of the processor names it',
    );
  }
  const client = createOpsClient(values);
  const answer = await client.post(
    `/ops/processors/${encodeURIComponent(id)}/${action}`,
    reason ? { reason } : {},
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return 0;
  }
  const { pause, note } = PauseAnswerSchema.parse(answer);
  const line =
    action === 'pause'
      ? `${id} paused by ${pause.paused_by} at ${pause.paused_at}: it is not called, on every instance within 5 s`
      : `${id} resumed (it was paused by ${pause.paused_by} at ${pause.paused_at}: ${pause.reason}); every instance calls it again within 5 s`;
  process.stdout.write(`${line}\n${note ? `note: ${note}\n` : ''}`);
  return 0;
}
