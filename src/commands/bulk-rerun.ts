import { setTimeout as sleep } from 'node:timers/promises';

import { ulid } from 'ulid';

import { OrchestratorError } from '../errors.js';
import { DryRunViewSchema, JobAnswerSchema, type RerunJob } from '../ops/views.js';
import type { OpsClient } from './ops-client.js';
import { formatTable } from './table.js';

/** What `rerun --processor …` was given. */
export interface BulkArgs {
  processors: string[];
  status: string | undefined;
  since: string | undefined;
  until: string | undefined;
  errorCode: string | undefined;
  errorText: string | undefined;
  reason: string | undefined;
  pace: string | undefined;
  key: string | undefined;
  dryRun: boolean;
  wait: boolean;
  json: boolean;
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `6h`, `30m`, `2d` before `now`, or an ISO time, as an ISO time. */
export function timeArg(name: string, value: string, now = Date.now()): string {
  const relative = /^(\d+)([mhd])$/.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * (UNITS[relative[2] ?? 'h'] ?? 0)).toISOString();
  if (!Number.isNaN(Date.parse(value)) && /^\d{4}-\d\d-\d\dT/.test(value))
    return new Date(value).toISOString();
  throw new OrchestratorError(
    'USAGE',
    `--${name}: ${value} is neither a duration before now (30m, 6h, 2d) nor an ISO time`,
  );
}

/**
 * `rerun --processor ID [--processor ID…] --status failed|timeout --since 6h [--until T]
 * [--error-code C] [--error-text T] [--dry-run] [--pace N] [--key K] [--wait] --reason TEXT`.
 */
export async function bulkRerun(client: OpsClient, args: BulkArgs): Promise<number> {
  if (args.since === undefined)
    throw new OrchestratorError('USAGE', 'rerun --processor needs --since (e.g. 6h)');
  const reason = args.reason?.trim() || (args.dryRun ? 'dry run' : undefined);
  if (reason === undefined)
    throw new OrchestratorError(
      'USAGE',
      'rerun --processor needs --reason TEXT: it is recorded with every re-run',
    );
  const body = {
    processors: args.processors,
    status: args.status ?? 'failed',
    since: timeArg('since', args.since),
    ...(args.until !== undefined && { until: timeArg('until', args.until) }),
    ...(args.errorCode !== undefined && { error_code: args.errorCode }),
    ...(args.errorText !== undefined && { error_text: args.errorText }),
    ...(args.pace !== undefined && { pace_per_second: Number(args.pace) }),
    reason,
    dry_run: args.dryRun,
  };
  // A key of our own, printed: running the command again with it finds the same job.
  const key = args.key ?? ulid();
  const answer = await client.post('/ops/reruns', body, args.dryRun ? {} : { 'idempotency-key': key });
  if (args.json && !args.wait) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return 0;
  }
  if (args.dryRun) {
    const dry = DryRunViewSchema.parse(answer);
    const rows = dry.sample.map((c) => [
      c.underwriting_id,
      c.completed_at,
      c.processors.join(','),
      oneLine(c.error_message ?? ''),
    ]);
    process.stdout.write(
      `${dry.count} underwriting${dry.count === 1 ? '' : 's'} would be re-run (${dry.scanned} executions read${dry.truncated ? '; too many for one job: narrow --since' : ''})\n` +
        (rows.length > 0
          ? formatTable(['underwriting', 'completed', 'processors', 'error'], rows, new Set())
          : ''),
    );
    return 0;
  }
  const started = JobAnswerSchema.parse(answer);
  let { job } = started;
  const { created } = started;
  process.stdout.write(
    `${created ? 'started' : 'found (same --key)'} bulk re-run job ${job.id}: ${job.counts.selected} underwritings selected, ` +
      `${job.pace_per_second}/s; --key ${key}\n`,
  );
  while (args.wait && (job.state === 'selecting' || job.state === 'running' || unsettled(job))) {
    await sleep(2_000);
    job = JobAnswerSchema.parse(await client.get(`/ops/reruns/${encodeURIComponent(job.id)}`)).job;
    process.stdout.write(`${progress(job)}\n`);
  }
  if (args.json) process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  return 0;
}

const unsettled = (job: RerunJob) =>
  job.state === 'cancelled' && job.counts.requested > job.counts.finished + job.counts.failed;

function progress(job: RerunJob): string {
  const c = job.counts;
  return `${job.state}: selected ${c.selected}, requested ${c.requested}, finished ${c.finished}, failed ${c.failed}, skipped ${c.skipped}`;
}

const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 60 ? `${flat.slice(0, 59)}…` : flat;
};
