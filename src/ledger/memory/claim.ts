// The memory ledger's claims: a key is held by one delivery object at a time, within this instance.
import { OrchestratorError } from '../../errors.js';
import type { ProcessingCompleted } from '../../events/processing-completed.js';
import type { RunOutcome } from '../../processors/run.js';
import { beginDecision, recordDecision } from '../claim-rules.js';
import type { OutcomeFacts } from '../history.js';
import type { Begin, Claim, Execution, RecordedOutcome } from '../ledger.js';
import type { Entries, Entry } from './entries.js';

/** `Ledger.begin` in memory (see `ledger.ts` for the protocol). */
export function memoryBegin(entries: Entries) {
  return function begin(execution: Execution): Promise<Begin> {
    const { key } = execution;
    const found = entries.get(key);
    // A holder here cannot lapse: it holds the key until it publishes or releases it.
    const held = found && {
      done: found.state === 'published',
      leaseUntilMs: found.holder ? Infinity : -Infinity,
    };
    const decision = beginDecision(held, Date.now());
    if (decision === 'done') {
      return Promise.resolve({ state: 'published', publishedAt: found?.publishedAt ?? '' });
    }
    if (decision === 'elsewhere') {
      return Promise.reject(
        new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} is in progress in another delivery`),
      );
    }
    const holder = {};
    const entry: Entry = found ?? fresh(execution, entries.nextSeq());
    entry.holder = holder;
    entry.about.deliveries += 1;
    entries.touch(key, entry);
    return Promise.resolve({ state: 'claimed', claim: holdClaim(entries, key, entry, holder) });
  };
}

function fresh(execution: Execution, seq: number): Entry {
  return {
    state: 'running',
    holder: undefined,
    outcomes: new Map(),
    bytes: 0,
    seq,
    about: {
      key: execution.key,
      underwritingId: execution.underwritingId,
      sourceMessageId: execution.sourceMessageId,
      receivedAt: new Date().toISOString(),
      deliveries: 0,
      rerun: execution.rerun ?? null,
      documents: [...(execution.documents ?? [])],
      organizationId: execution.organizationId,
    },
  };
}

function holdClaim(entries: Entries, key: string, entry: Entry, holder: object): Claim {
  const prior: ReadonlyMap<string, RecordedOutcome> = new Map(
    [...entry.outcomes].map(([id, kept]) => [id, kept.outcome]),
  );
  const holds = () => entry.holder === holder;
  return {
    prior,
    record(outcome: RunOutcome, facts: OutcomeFacts = { reused: false, queueWait: null }) {
      if (!holds()) return;
      const id = outcome.processor_id;
      const previous = entry.outcomes.get(id);
      const decision = recordDecision(
        previous && { executionId: previous.outcome.execution_id, executionIds: previous.executionIds },
        outcome,
        facts.reused,
      );
      if (decision.kind === 'flag') {
        if (previous) previous.facts = { ...previous.facts, reused: true };
        return;
      }
      entry.outcomes.set(id, { outcome, facts, executionIds: decision.executionIds });
      entries.grow(entry, sizeOf(outcome) - (previous ? sizeOf(previous.outcome) : 0));
    },
    settle(_result: ProcessingCompleted) {
      return holds()
        ? Promise.resolve()
        : Promise.reject(new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} was forgotten`));
    },
    published(result: ProcessingCompleted, messageId?: string) {
      if (!holds()) return Promise.resolve();
      entry.state = 'published';
      entry.holder = undefined;
      entry.publishedAt = result.completed_at;
      entry.completedAtMs = Date.parse(result.completed_at);
      entry.overallStatus = result.overall_status ?? null;
      entry.publishedMessageId = messageId ?? null;
      return Promise.resolve();
    },
    release() {
      if (holds()) entry.holder = undefined;
      return Promise.resolve();
    },
  };
}

// Factors dominate an entry's size; the JSON length is close enough to bound memory.
const sizeOf = (outcome: RunOutcome) => JSON.stringify(outcome).length;
