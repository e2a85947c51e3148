// Where an execution's outcomes live in Firestore: inline in the execution document while they fit
// its budget, else split into `parts` documents beside it; and how they are read back whole.
import type { DocumentReference, Timestamp } from '@google-cloud/firestore';

import { toEntry } from '../../processors/run.js';
import { recordDecision, reusable } from '../claim-rules.js';
import type { OutcomeFacts } from '../history.js';
import type { RecordedOutcome } from '../ledger.js';
import {
  decodeOutcome,
  executionIdsOf,
  partConverter,
  partOf,
  type StoredOutcome,
  type StoredPart,
} from './converter.js';
import type { LedgerStore } from './store.js';

/** The execution document stays well under Firestore's 1 MiB: inline entries share this much. */
export const INLINE_BUDGET_BYTES = 512 * 1024;
/** One part: under the 1 MiB document limit with room for its name and fields. */
export const PART_BYTES = 900 * 1024;
const PARTS = 'parts';

export const partId = (processorId: string, executionId: string, index: number) =>
  `${processorId}-${executionId}-${index}`;

const partRef = (execution: DocumentReference, processorId: string, executionId: string, index: number) =>
  execution
    .collection(PARTS)
    .doc(partId(processorId, executionId, index))
    .withConverter(partConverter);

/** Splits an entry's JSON into parts (for entries that do not fit inline). */
export function split(json: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < json.length; at += PART_BYTES) parts.push(json.subarray(at, at + PART_BYTES));
  return parts;
}

/** The outcomes stored inline (every one but large results). */
export function decodeInline(stored: Record<string, StoredOutcome>): Map<string, RecordedOutcome> {
  const outcomes = new Map<string, RecordedOutcome>();
  for (const [id, outcome] of Object.entries(stored)) {
    if (outcome.entry === null) continue;
    const decoded = decodeOutcome(outcome, outcome.entry);
    if (decoded) outcomes.set(id, decoded);
  }
  return outcomes;
}

/**
 * The recorded outcomes, read back whole: inline ones, and the spilled ones a redelivery may reuse
 * (`reusable`: the others run again, their attempts are inline); and the bytes inline entries take.
 */
export async function readOutcomes(
  store: LedgerStore,
  ref: DocumentReference,
  stored: Record<string, StoredOutcome>,
): Promise<{ prior: Map<string, RecordedOutcome>; inlineBytes: number }> {
  const prior = decodeInline(stored);
  let inlineBytes = 0;
  const spilled: [string, StoredOutcome][] = [];
  for (const [id, outcome] of Object.entries(stored)) {
    if (outcome.entry !== null) inlineBytes += Buffer.byteLength(outcome.entry);
    else if (reusable(outcome.status)) spilled.push([id, outcome]);
  }
  const refs = spilled.flatMap(([id, outcome]) =>
    Array.from({ length: outcome.parts }, (_, i) => partRef(ref, id, outcome.execution_id, i)),
  );
  if (refs.length === 0) return { prior, inlineBytes };
  const parts = await store.bounded('read parts', () => store.db.getAll(...refs), {
    reads: refs.length,
  });
  let at = 0;
  for (const [id, outcome] of spilled) {
    const slices = parts.slice(at, at + outcome.parts).map((p) => partOf(p)?.data);
    at += outcome.parts;
    // A missing part (deleted by the TTL first, say): the processor runs again.
    if (!slices.every((s) => s !== undefined)) continue;
    const decoded = decodeOutcome(outcome, Buffer.concat(slices).toString('utf8'));
    if (decoded) prior.set(id, decoded);
  }
  return { prior, inlineBytes };
}

/** One settled outcome, to be written with the next checkpoint. */
export interface Settled {
  outcome: RecordedOutcome;
  facts: OutcomeFacts;
}

/** What one checkpoint writes of the outcomes settled since the last. */
export interface Placed {
  /** Fields of the execution document (`processors.{id}`, or only its `reused` flag). */
  fields: Record<string, unknown>;
  /** Parts to write first: the document names them only once they exist. */
  spills: { ref: DocumentReference<StoredPart>; part: StoredPart }[];
  /** What the document holds per processor once written. */
  wrote: [string, StoredOutcome][];
  /** Bytes the inline entries grow by. */
  grown: number;
}

/**
 * Places each settled outcome, inline while the document's budget lasts (`inlineBytes` used so
 * far), else in parts; `recorded` is what the document holds now, per processor (the claim rules
 * decide what recording does to it).
 */
export function placeOutcomes(
  ref: DocumentReference,
  batch: readonly Settled[],
  recorded: Readonly<Record<string, StoredOutcome>>,
  inlineBytes: number,
  expireAt: Timestamp,
): Placed {
  const placed: Placed = { fields: {}, spills: [], wrote: [], grown: 0 };
  for (const { outcome, facts } of batch) {
    const id = outcome.processor_id;
    const earlier = recorded[id];
    const decision = recordDecision(
      earlier && { executionId: earlier.execution_id, executionIds: executionIdsOf(earlier) },
      outcome,
      facts.reused,
    );
    if (decision.kind === 'flag') {
      placed.fields[`processors.${id}.reused`] = true;
      continue;
    }
    const json = JSON.stringify(toEntry(outcome));
    const size = Buffer.byteLength(json);
    const kept = {
      status: outcome.status,
      attempts: outcome.attempts,
      execution_id: outcome.execution_id,
      execution_time: outcome.execution_time,
      execution_ids: decision.executionIds,
      queue_wait: facts.queueWait,
      reused: facts.reused,
    };
    let stored: StoredOutcome;
    if (inlineBytes + placed.grown + size <= INLINE_BUDGET_BYTES) {
      placed.grown += size;
      stored = { ...kept, entry: json, parts: 0 };
    } else {
      const slices = split(Buffer.from(json));
      for (const [i, data] of slices.entries()) {
        placed.spills.push({
          ref: partRef(ref, id, outcome.execution_id, i).withConverter(partConverter),
          part: { data, expireAt },
        });
      }
      stored = { ...kept, entry: null, parts: slices.length };
    }
    placed.fields[`processors.${id}`] = stored;
    placed.wrote.push([id, stored]);
  }
  return placed;
}
