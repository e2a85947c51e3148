import { OrchestratorError } from '../errors.js';
import { beginDecision } from './claim-rules.js';

/**
 * A poison message is dead-lettered once, however often and by whatever path it is delivered
 * (pull and push, a redelivery, another instance), as an event is published once: the ledger
 * records its forwarding by message id.
 *
 * 1. `begin` claims the message's forwarding for this delivery, with a lease; or says it was
 *    `forwarded` already (ack without forwarding again). A forwarding held by another live
 *    delivery throws IN_PROGRESS_ELSEWHERE (retryable: nack; the redelivery finds it forwarded).
 * 2. `forwarded` once the dead-letter topic has it; `release` when it could not be forwarded, so
 *    that the redelivery need not wait for the lease to run out.
 */
export type DeadLetterBegin = { state: 'forwarded' } | { state: 'claimed'; claim: DeadLetterClaim };

export interface DeadLetterClaim {
  /** Marks the message forwarded: its later deliveries are acked without forwarding again. */
  forwarded(): Promise<void>;
  /** Gives the claim up at once (the message will be retried); never rejects. */
  release(): Promise<void>;
}

/** What a poison message's record says of it: who holds its forwarding, until when, or that it is done. */
export const DEAD_LETTER_STATES = ['forwarding', 'forwarded'] as const;

export interface DeadLetterState {
  state: (typeof DEAD_LETTER_STATES)[number];
  leaseUntilMs: number;
}

/** What this delivery does, given the message's record (none yet: `undefined`). */
export function deadLetterDecision(
  found: DeadLetterState | undefined,
  nowMs: number,
): 'claim' | 'forwarded' | 'elsewhere' | 'take-over' {
  const decision = beginDecision(
    found && { done: found.state === 'forwarded', leaseUntilMs: found.leaseUntilMs },
    nowMs,
  );
  return decision === 'done' ? 'forwarded' : decision;
}

/** A poison message held by another live delivery: retryable. */
export const elsewhere = (messageId: string) =>
  new OrchestratorError(
    'IN_PROGRESS_ELSEWHERE',
    `poison message ${messageId} is being dead-lettered by another delivery`,
  );

/** Within one instance (`LEDGER=memory`): the most recent `limit` messages are remembered. */
export function createMemoryDeadLetters(limit: number, leaseMs: number) {
  // Insertion order: the oldest first, forgotten first.
  const records = new Map<string, DeadLetterState & { holder: object }>();
  return {
    begin: (messageId: string): Promise<DeadLetterBegin> => {
      const found = records.get(messageId);
      const decision = deadLetterDecision(found, Date.now());
      if (decision === 'forwarded') return Promise.resolve({ state: 'forwarded' });
      if (decision === 'elsewhere') return Promise.reject(elsewhere(messageId));
      const record = { state: 'forwarding' as const, leaseUntilMs: Date.now() + leaseMs, holder: {} };
      records.delete(messageId);
      records.set(messageId, record);
      for (const oldest of records.keys()) {
        if (records.size <= limit) break;
        records.delete(oldest);
      }
      const holds = () => records.get(messageId) === record;
      return Promise.resolve({
        state: 'claimed',
        claim: {
          forwarded() {
            if (holds()) records.set(messageId, { ...record, state: 'forwarded' });
            return Promise.resolve();
          },
          release() {
            if (holds()) records.delete(messageId);
            return Promise.resolve();
          },
        },
      });
    },
  };
}
