import type { Logger } from './logging.js';

export interface BudgetParts {
  /** Deadline of every installed processor (its own `timeoutMs`, or the default). */
  timeoutsMs: readonly number[];
  /** Threads in the pool. */
  threads: number;
  /** How long a processor may take to settle after its deadline before its thread is ended. */
  graceMs: number;
  /** The longest the document source can take to answer. */
  documentsMs: number;
  /** The longest publishing `processing.completed` can take, retries included. */
  publishMs: number;
}

export interface DeadlineBudget {
  documentsMs: number;
  processorsMs: number;
  publishMs: number;
  totalMs: number;
}

/**
 * The longest one event can take on an idle instance when every processor it may purchase runs
 * to its deadline: documents, then the processors (at once when there are threads for all; else
 * the bound of any queue order, sum / threads + (1 - 1 / threads) × longest), then the publish.
 * Events queued behind others on a busy instance wait longer than this.
 */
export function deadlineBudget(parts: BudgetParts): DeadlineBudget {
  const runs = parts.timeoutsMs.map((ms) => ms + parts.graceMs);
  const longest = Math.max(0, ...runs);
  const processorsMs =
    runs.length <= parts.threads
      ? longest
      : Math.ceil(runs.reduce((sum, ms) => sum + ms, 0) / parts.threads + (1 - 1 / parts.threads) * longest);
  return {
    documentsMs: parts.documentsMs,
    processorsMs,
    publishMs: parts.publishMs,
    totalMs: parts.documentsMs + processorsMs + parts.publishMs,
  };
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
      'delivery is still running; shorten the processor deadlines, add PROCESSOR_THREADS, or raise the ack deadline',
  );
  return false;
}
