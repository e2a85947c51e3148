// The Firestore ledger's claims. A claim is `create()` (the write that fails when the document
// exists) or, once the holder's lease ran out, an update preconditioned on the document's last
// update time; every later write of the holder carries the same precondition, so a holder that
// lost its lease can write nothing. No transactions: on the emulator two parallel transactions
// creating one document can both fail (firebase-tools #6758); preconditions are deterministic there too.
import { randomUUID } from 'node:crypto';

import { FieldValue, Timestamp, type DocumentReference } from '@google-cloud/firestore';

import { OrchestratorError, messageOf } from '../../errors.js';
import type { ProcessingCompleted } from '../../events/processing-completed.js';
import type { Logger } from '../../logging.js';
import type { RunOutcome } from '../../processors/run.js';
import { GRPC, codeOf } from '../firestore-client.js';
import { beginDecision } from '../claim-rules.js';
import type { OutcomeFacts } from '../history.js';
import { documentId, type Begin, type Claim, type Execution, type RecordedOutcome } from '../ledger.js';
import type { StoredExecution, StoredOutcome } from './converter.js';
import { summaryFields } from './history.js';
import { placeOutcomes, readOutcomes, type Settled } from './parts.js';
import type { LedgerStore } from './store.js';

export interface ClaimOptions {
  log: Logger;
  leaseMs: number;
  checkpointMs: number;
}

const elsewhere = (key: string, why: string) =>
  new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} ${why}`);
const lostLease = (key: string) =>
  elsewhere(key, 'was taken over by another delivery (this one stalled past its lease)');
/** The write was refused: another delivery wrote (or deleted) the document since this one did. */
const refused = (err: unknown) => codeOf(err) === GRPC.FAILED_PRECONDITION || codeOf(err) === GRPC.NOT_FOUND;

/** What a claim starts from: its write, and what the document held then. */
interface Held {
  ref: DocumentReference;
  key: string;
  writeTime: Timestamp;
  prior: ReadonlyMap<string, RecordedOutcome>;
  inlineBytes: number;
  recorded: Record<string, StoredOutcome>;
}

/** `Ledger.begin` over Firestore (see `ledger.ts` for the protocol). */
export function firestoreBegin(store: LedgerStore, options: ClaimOptions) {
  const { leaseMs } = options;

  return async function begin(execution: Execution): Promise<Begin> {
    const { key } = execution;
    const ref = store.executions.doc(documentId(key));
    const owner = randomUUID();
    const now = Date.now();
    const fresh: StoredExecution = {
      key,
      underwriting_id: execution.underwritingId,
      source_message_id: execution.sourceMessageId,
      state: 'running',
      owner,
      lease_until: Timestamp.fromMillis(now + leaseMs),
      deliveries: 1,
      created_at: Timestamp.fromMillis(now),
      updated_at: Timestamp.fromMillis(now),
      expireAt: store.expiry(now),
      processors: {},
      ...(execution.documents && { documents: [...execution.documents] }),
      ...(execution.organizationId !== undefined && { organization_id: execution.organizationId }),
      ...(execution.rerun && { rerun: execution.rerun }),
    };
    try {
      const created = await store.bounded('claim', () => ref.create(fresh), { writes: 1 });
      const held = { ref, key, writeTime: created.writeTime, prior: new Map(), inlineBytes: 0, recorded: {} };
      return { state: 'claimed', claim: holdClaim(store, options, held) };
    } catch (err) {
      if (codeOf(err) !== GRPC.ALREADY_EXISTS) throw err;
    }

    const snapshot = await store.bounded('read', () => ref.get(), { reads: 1 });
    const stored = snapshot.data();
    if (!stored || !snapshot.updateTime) throw elsewhere(key, 'changed while it was claimed');
    const found = { done: stored.state === 'published', leaseUntilMs: stored.lease_until.toMillis() };
    const decision = beginDecision(found, Date.now());
    if (decision === 'done') {
      return {
        state: 'published',
        publishedAt: (stored.published_at ?? stored.updated_at).toDate().toISOString(),
      };
    }
    if (decision !== 'take-over') throw elsewhere(key, 'is in progress in another delivery');
    const { prior, inlineBytes } = await readOutcomes(store, ref, stored.processors);
    const takenAt = Date.now();
    const taken = await store
      .bounded(
        'take over',
        () =>
          ref.update(
            {
              owner,
              lease_until: Timestamp.fromMillis(takenAt + leaseMs),
              deliveries: FieldValue.increment(1),
              updated_at: Timestamp.fromMillis(takenAt),
            },
            { lastUpdateTime: snapshot.updateTime },
          ),
        { writes: 1 },
      )
      .catch((err: unknown) => {
        throw refused(err) ? elsewhere(key, 'was claimed by another delivery first') : err;
      });
    const held = { ref, key, writeTime: taken.writeTime, prior, inlineBytes, recorded: stored.processors };
    return { state: 'claimed', claim: holdClaim(store, options, held) };
  };
}

/** A live claim's state, shared by its checkpoints (one at a time) and its methods. */
interface ClaimState {
  readonly ref: DocumentReference;
  readonly key: string;
  /** What the document holds per processor, to count execution ids across deliveries. */
  readonly recorded: Record<string, StoredOutcome>;
  /** Settled outcomes not written yet, by processor. */
  readonly pending: Map<string, Settled>;
  lastWrite: Timestamp;
  leaseUntil: number;
  inlineBytes: number;
  /** Another delivery took the key over: nothing more may be written. */
  lost: boolean;
}

/**
 * A live claim: outcomes are written with the lease renewals (checkpoints, one write at a time,
 * each preconditioned on the one before), so their cost follows the event's duration.
 */
function holdClaim(store: LedgerStore, options: ClaimOptions, held: Held): Claim {
  const { log, leaseMs, checkpointMs } = options;
  const { key } = held;
  const state: ClaimState = {
    ref: held.ref,
    key,
    recorded: { ...held.recorded },
    pending: new Map(),
    lastWrite: held.writeTime,
    leaseUntil: Date.now() + leaseMs,
    inlineBytes: held.inlineBytes,
    lost: false,
  };
  let finished = false;
  let writing: Promise<void> = Promise.resolve();
  const ticker = setInterval(() => {
    // Renewed with 10 s (two checkpoints) to spare, longer than one write may take (timeoutMs).
    if (state.pending.size > 0 || state.leaseUntil - Date.now() <= leaseMs - 2 * checkpointMs) {
      void enqueue({}).catch((err: unknown) =>
        log.warn(
          { execution_key: key, err: messageOf(err) },
          'ledger checkpoint failed; retried at the next',
        ),
      );
    }
  }, checkpointMs).unref();

  function enqueue(fields: Record<string, unknown>): Promise<void> {
    const next = writing.then(() => checkpoint(store, leaseMs, state, fields));
    writing = next.catch(() => {});
    return next;
  }

  function finish(): void {
    finished = true;
    clearInterval(ticker);
  }

  return {
    prior: held.prior,
    record(outcome: RunOutcome, facts: OutcomeFacts = { reused: false, queueWait: null }) {
      if (!finished) state.pending.set(outcome.processor_id, { outcome, facts });
    },
    async settle(_result: ProcessingCompleted) {
      await writing;
      if (state.pending.size > 0 || state.lost) await enqueue({});
    },
    async published(result: ProcessingCompleted, messageId?: string) {
      finish();
      const now = Date.now();
      await enqueue({
        state: 'published',
        published_message_id: messageId ?? null,
        published_at: Timestamp.fromMillis(now),
        completed_at: Timestamp.fromDate(new Date(result.completed_at)),
        lease_until: Timestamp.fromMillis(now),
        ...summaryFields(result),
      });
    },
    async release() {
      if (finished) return;
      finish();
      // What settled is worth keeping; the lease ends now, so a redelivery need not wait.
      await enqueue({ lease_until: Timestamp.fromMillis(Date.now()) }).catch((err: unknown) =>
        log.warn({ execution_key: key, err: messageOf(err) }, 'could not release the ledger claim'),
      );
    },
  };
}

/** One write of a claim: what settled since the last one, the renewed lease and `fields`. */
async function checkpoint(
  store: LedgerStore,
  leaseMs: number,
  state: ClaimState,
  fields: Record<string, unknown>,
): Promise<void> {
  const { ref, key, pending } = state;
  if (state.lost) throw lostLease(key);
  const batch = [...pending.values()];
  pending.clear();
  const now = Date.now();
  const placed = placeOutcomes(ref, batch, state.recorded, state.inlineBytes, store.expiry(now));
  const update = {
    lease_until: Timestamp.fromMillis(now + leaseMs),
    updated_at: Timestamp.fromMillis(now),
    ...fields,
    ...placed.fields,
  };
  try {
    // Parts first: the execution document names them only once they exist.
    if (placed.spills.length > 0) {
      await store.bounded('write parts', () => Promise.all(placed.spills.map((s) => s.ref.set(s.part))), {
        writes: placed.spills.length,
      });
    }
    const lastUpdateTime = state.lastWrite;
    const result = await store.bounded('checkpoint', () => ref.update(update, { lastUpdateTime }), {
      writes: 1,
    });
    state.lastWrite = result.writeTime;
    state.leaseUntil = now + leaseMs;
    state.inlineBytes += placed.grown;
    for (const [id, stored] of placed.wrote) state.recorded[id] = stored;
  } catch (err) {
    // Written at the next try, unless a newer outcome of the same processor came meanwhile.
    for (const item of batch) {
      if (!pending.has(item.outcome.processor_id)) pending.set(item.outcome.processor_id, item);
    }
    if (refused(err)) {
      state.lost = true;
      throw lostLease(key);
    }
    throw err;
  }
}
