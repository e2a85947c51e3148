import type { Logger } from './logging.js';
import type { ConcurrencyPolicy, RetryPolicy } from './processors/contract.js';

export interface BudgetParts {
  /** Every installed processor: its deadline (its own `timeoutMs`, or the default) and policies. */
  processors: readonly BudgetProcessor[];
  /** How long a processor may take to settle after its deadline before its thread is ended. */
  graceMs: number;
  /** The longest the document source can take to answer. */
  documentsMs: number;
  /** The longest publishing `processing.completed` can take, retries included. */
  publishMs: number;
}

export interface BudgetProcessor {
  id: string;
  timeoutMs: number;
  concurrency?: ConcurrencyPolicy | undefined;
  retry?: RetryPolicy | undefined;
}

export interface DeadlineBudget {
  documentsMs: number;
  processorsMs: number;
  publishMs: number;
  totalMs: number;
}

/**
 * The longest one event can take on an idle instance when every processor it may purchase runs
 * to its deadline: documents, then the processors, then the publish. A processor's longest is
 * every attempt its retry policy allows at deadline + grace, plus the longest backoff between
 * them. Processors run at once (threads grow for runs that wait), except those that share a
 * concurrency limit: a group of them under limit L takes at most sum / L + (1 − 1 / L) × longest
 * (any queue order). Events queued behind others on a busy instance, and runs that compute while
 * every core is taken, wait longer than this.
 */
export function deadlineBudget(parts: BudgetParts): DeadlineBudget {
  const groups = new Map<string, { limit: number; runs: number[] }>();
  for (const p of parts.processors) {
    const key = p.concurrency ? `key:${p.concurrency.key ?? p.id}` : `id:${p.id}`;
    const group = groups.get(key) ?? { limit: p.concurrency?.limit ?? 1, runs: [] };
    group.runs.push(longestRunMs(p, parts.graceMs));
    groups.set(key, group);
  }
  let processorsMs = 0;
  for (const { limit, runs } of groups.values()) {
    const longest = Math.max(...runs);
    const groupMs =
      runs.length <= limit
        ? longest
        : Math.ceil(runs.reduce((sum, ms) => sum + ms, 0) / limit + (1 - 1 / limit) * longest);
    processorsMs = Math.max(processorsMs, groupMs);
  }
  return {
    documentsMs: parts.documentsMs,
    processorsMs,
    publishMs: parts.publishMs,
    totalMs: parts.documentsMs + processorsMs + parts.publishMs,
  };
}

/** Every attempt at deadline + grace, and the longest wait between two of them. */
function longestRunMs(p: BudgetProcessor, graceMs: number): number {
  const attempts = p.retry?.attempts ?? 1;
  let ms = attempts * (p.timeoutMs + graceMs);
  for (let n = 1; n < attempts && p.retry; n++) {
    ms += Math.min(p.retry.maxBackoffMs, p.retry.backoffMs * 2 ** (n - 1));
  }
  return ms;
}

/**
 * Warns when an event can outlive the push subscription's ack deadline: Pub/Sub would then
 * deliver it again while the first delivery is still running. Returns whether it fits.
 */
export function checkPushAckDeadline(
  budget: DeadlineBudget,
  ackDeadlineSeconds: number,
  log: Logger,
): boolean {
  if (budget.totalMs <= ackDeadlineSeconds * 1000) return true;
  log.warn(
    {
      deadline_budget_s: budget.totalMs / 1000,
      documents_s: budget.documentsMs / 1000,
      processors_s: budget.processorsMs / 1000,
      publish_s: budget.publishMs / 1000,
      push_ack_deadline_s: ackDeadlineSeconds,
    },
    `an event can take up to ${budget.totalMs / 1000} s, longer than the push subscription's ack deadline ` +
      `of ${ackDeadlineSeconds} s (PUSH_ACK_DEADLINE_SECONDS): Pub/Sub would deliver it again while the first ` +
      'delivery is still running; shorten the processor deadlines or retries, raise their concurrency limits, or raise the ack deadline',
  );
  return false;
}
