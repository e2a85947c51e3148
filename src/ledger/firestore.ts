import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  FieldPath,
  FieldValue,
  Timestamp,
  type DocumentReference,
  type Firestore,
  type Query,
} from '@google-cloud/firestore';

import { OrchestratorError, messageOf } from '../errors.js';
import type { ProcessingCompleted } from '../events/processing-completed.js';
import type { Logger } from '../logging.js';
import { toEntry, type RunOutcome } from '../processors/run.js';
import { createFirestoreDeadLetters } from './dead-letters-firestore.js';
import {
  HISTORY_LIMITS,
  decodeCursor,
  encodeCursor,
  matches,
  type Cursor,
  type ExecutionFilter,
  type ExecutionRecord,
  type LedgerHistory,
  type OutcomeFacts,
} from './history.js';
import {
  CHECKPOINT_MS,
  LEASE_MS,
  documentId,
  type Begin,
  type Claim,
  type Execution,
  type Ledger,
  type RecordedOutcome,
} from './ledger.js';
import {
  INLINE_BUDGET_BYTES,
  decodeOutcome,
  partId,
  split,
  summaryFields,
  toRecord,
  type StoredExecution,
  type StoredOutcome,
  type StoredPart,
} from './record.js';
import { planQuery, type QueryPlan } from './query-plan.js';
import {
  FIRESTORE_CALL_MS,
  GRPC,
  codeOf,
  firestoreCall,
  firestoreClient,
  isExpected,
} from './firestore-client.js';

export interface FirestoreLedgerOptions {
  projectId: string;
  /** `(default)` or a named database. */
  databaseId: string;
  collection: string;
  ttlDays: number;
  /** `host:port` of the Firestore emulator, when talking to it. */
  emulatorHost: string | undefined;
  log: Logger;
  /** The longest one ledger operation may take before the event is retried (LEDGER_UNAVAILABLE). */
  timeoutMs?: number;
  /** Lease and checkpoint periods (default `LEASE_MS`, `CHECKPOINT_MS`); tests shorten them. */
  leaseMs?: number;
  checkpointMs?: number;
  /** The service's Firestore client, shared with the operations state (terminated by `close`); else one of its own. */
  db?: Firestore;
}

export const FIRESTORE_DEFAULTS = {
  /** Bound of one operation: past it the ledger is unavailable and the event is retried. */
  timeoutMs: FIRESTORE_CALL_MS,
  /** While unavailable, how often readiness checks it again. */
  recheckMs: 2_000,
  /**
   * Bound of the start-up probe, the client's first call: it loads the client's protocol files
   * and opens its channel, seconds of CPU on a cold or busy instance, before Firestore is asked.
   */
  warmTimeoutMs: 30_000,
} as const;

const { ALREADY_EXISTS, FAILED_PRECONDITION, NOT_FOUND } = GRPC;
const DAY_MS = 86_400_000;
const PARTS = 'parts';
const NOT_CHECKED = 'not checked yet';

const elsewhere = (key: string, why: string) =>
  new OrchestratorError('IN_PROGRESS_ELSEWHERE', `execution ${key} ${why}`);

/**
 * `LEDGER=firestore`: the ledger shared by every instance, one document per execution. A claim is
 * `create()` (the write that fails when the document exists) or, once the holder's lease ran out,
 * an update preconditioned on the document's last update time; every later write of the holder
 * carries the same precondition, so a holder that lost its lease can write nothing. No
 * transactions: on the emulator two parallel transactions creating one document can both fail
 * (firebase-tools #6758); preconditions are deterministic there too.
 */
export function createFirestoreLedger(options: FirestoreLedgerOptions): Ledger {
  const { log } = options;
  const timeoutMs = options.timeoutMs ?? FIRESTORE_DEFAULTS.timeoutMs;
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const checkpointMs = options.checkpointMs ?? CHECKPOINT_MS;
  const db = options.db ?? firestoreClient(options);
  const collection = db.collection(options.collection);
  const ops = { reads: 0, writes: 0 };
  let problem: string | undefined = NOT_CHECKED;
  let recheck: NodeJS.Timeout | undefined;
  let closed = false;

  function unavailable(what: string, err: unknown): OrchestratorError {
    const reason = `${what}: ${messageOf(err)}`;
    if (problem === undefined || problem === NOT_CHECKED)
      log.error({ code: 'LEDGER_UNAVAILABLE', err }, `ledger unavailable: ${reason}`);
    problem = reason;
    scheduleRecheck();
    return new OrchestratorError('LEDGER_UNAVAILABLE', `execution ledger: ${reason}`, { cause: err });
  }

  function scheduleRecheck(): void {
    if (closed || recheck) return;
    recheck = setTimeout(() => {
      recheck = undefined;
      void probe();
    }, FIRESTORE_DEFAULTS.recheckMs).unref();
  }

  async function probe(boundMs = timeoutMs): Promise<void> {
    const was = problem;
    try {
      // A read of a document that need not exist: the cheapest round trip that proves the way.
      await bounded('probe', () => collection.doc('_readiness').get(), { reads: 1 }, boundMs);
      if (was !== undefined && was !== NOT_CHECKED) log.info('ledger available again');
    } catch {
      // bounded() recorded the problem and scheduled the next check.
    }
  }

  /**
   * Runs one Firestore call within `timeoutMs`. Errors a caller tells apart (the document exists,
   * a precondition failed) are rethrown as they are; any other failure, or the bound, makes the
   * ledger unavailable.
   */
  async function bounded<T>(
    what: string,
    call: () => Promise<T>,
    cost: { reads?: number; writes?: number },
    boundMs = timeoutMs,
  ): Promise<T> {
    try {
      const result = await firestoreCall(what, call, boundMs);
      ops.reads += cost.reads ?? 0;
      ops.writes += cost.writes ?? 0;
      problem = undefined;
      return result;
    } catch (err) {
      if (isExpected(err)) {
        problem = undefined;
        throw err;
      }
      throw unavailable(what, err instanceof OrchestratorError ? err.cause : err);
    }
  }

  const expiry = (now: number) => Timestamp.fromMillis(now + options.ttlDays * DAY_MS);
  const deadLetters = createFirestoreDeadLetters({ collection, bounded, leaseMs, expiry, log });

  async function begin(execution: Execution): Promise<Begin> {
    const { key } = execution;
    const ref = collection.doc(documentId(key));
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
      expireAt: expiry(now),
      processors: {},
      ...(execution.documents && { documents: [...execution.documents] }),
      ...(execution.organizationId !== undefined && { organization_id: execution.organizationId }),
      ...(execution.rerun && { rerun: execution.rerun }),
    };
    try {
      const created = await bounded('claim', () => ref.create(fresh), { writes: 1 });
      return { state: 'claimed', claim: holdClaim(ref, key, created.writeTime, new Map(), 0, {}) };
    } catch (err) {
      if (codeOf(err) !== ALREADY_EXISTS) throw err;
    }

    const snapshot = await bounded('read', () => ref.get(), { reads: 1 });
    const stored = snapshot.data() as StoredExecution | undefined;
    if (!stored || !snapshot.updateTime) throw elsewhere(key, 'changed while it was claimed');
    if (stored.state === 'published') {
      return {
        state: 'published',
        publishedAt: (stored.published_at ?? stored.updated_at).toDate().toISOString(),
      };
    }
    if (stored.lease_until.toMillis() > Date.now()) {
      throw elsewhere(key, 'is in progress in another delivery');
    }
    const { prior, inlineBytes } = await readOutcomes(ref, stored.processors);
    try {
      const takenAt = Date.now();
      const taken = await bounded(
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
      );
      return {
        state: 'claimed',
        claim: holdClaim(ref, key, taken.writeTime, prior, inlineBytes, stored.processors),
      };
    } catch (err) {
      if (codeOf(err) === FAILED_PRECONDITION || codeOf(err) === NOT_FOUND) {
        throw elsewhere(key, 'was claimed by another delivery first');
      }
      throw err;
    }
  }

  async function readOutcomes(
    ref: DocumentReference,
    stored: Record<string, StoredOutcome>,
  ): Promise<{ prior: Map<string, RecordedOutcome>; inlineBytes: number }> {
    const prior = new Map<string, RecordedOutcome>();
    let inlineBytes = 0;
    const spilled: [string, StoredOutcome][] = [];
    for (const [id, outcome] of Object.entries(stored)) {
      if (outcome.entry !== null) {
        inlineBytes += Buffer.byteLength(outcome.entry);
        const decoded = decodeOutcome(outcome, outcome.entry);
        if (decoded) prior.set(id, decoded);
      } else if (outcome.status === 'completed') {
        spilled.push([id, outcome]);
      }
    }
    const refs = spilled.flatMap(([id, outcome]) =>
      Array.from({ length: outcome.parts }, (_, i) =>
        ref.collection(PARTS).doc(partId(id, outcome.execution_id, i)),
      ),
    );
    if (refs.length > 0) {
      const parts = await bounded('read parts', () => db.getAll(...refs), { reads: refs.length });
      let at = 0;
      for (const [id, outcome] of spilled) {
        const slices = parts
          .slice(at, at + outcome.parts)
          .map((p) => (p.data() as StoredPart | undefined)?.data);
        at += outcome.parts;
        // A missing part (deleted by the TTL first, say): the processor runs again.
        if (slices.some((s) => s === undefined)) continue;
        const decoded = decodeOutcome(outcome, Buffer.concat(slices as Buffer[]).toString('utf8'));
        if (decoded) prior.set(id, decoded);
      }
    }
    return { prior, inlineBytes };
  }

  function holdClaim(
    ref: DocumentReference,
    key: string,
    writeTime: Timestamp,
    prior: ReadonlyMap<string, RecordedOutcome>,
    inlineBytesAtStart: number,
    storedAtStart: Record<string, StoredOutcome>,
  ): Claim {
    // What the document holds per processor, to count execution ids across deliveries.
    const storedNow = { ...storedAtStart };
    let lastWrite = writeTime;
    let leaseUntil = Date.now() + leaseMs;
    let inlineBytes = inlineBytesAtStart;
    let lost = false;
    let finished = false;
    const pending = new Map<string, { outcome: RecordedOutcome; facts: OutcomeFacts }>();
    // One write at a time: each is preconditioned on the one before.
    let writing: Promise<void> = Promise.resolve();
    const ticker = setInterval(() => {
      // Renewed with 10 s (two checkpoints) to spare, longer than one write may take (timeoutMs).
      if (pending.size > 0 || leaseUntil - Date.now() <= leaseMs - 2 * checkpointMs) {
        void enqueue({}).catch((err: unknown) =>
          log.warn(
            { execution_key: key, err: messageOf(err) },
            'ledger checkpoint failed; retried at the next',
          ),
        );
      }
    }, checkpointMs).unref();

    function enqueue(fields: Record<string, unknown>): Promise<void> {
      const next = writing.then(() => write(fields));
      writing = next.catch(() => {});
      return next;
    }

    /** One write: what settled since the last one, the renewed lease and `fields`. */
    async function write(fields: Record<string, unknown>): Promise<void> {
      if (lost) throw elsewhere(key, 'was taken over by another delivery (this one stalled past its lease)');
      const batch = [...pending.values()];
      pending.clear();
      const now = Date.now();
      const update: Record<string, unknown> = {
        lease_until: Timestamp.fromMillis(now + leaseMs),
        updated_at: Timestamp.fromMillis(now),
        ...fields,
      };
      const spills: { ref: DocumentReference; part: StoredPart }[] = [];
      let grown = 0;
      const wrote: [string, StoredOutcome][] = [];
      for (const { outcome, facts } of batch) {
        const earlier = storedNow[outcome.processor_id];
        // Reused from this very record (a redelivery): only the flag changes.
        if (facts.reused && earlier?.execution_id === outcome.execution_id) {
          update[`processors.${outcome.processor_id}.reused`] = true;
          continue;
        }
        const entry = toEntry(outcome);
        const json = JSON.stringify(entry);
        const size = Buffer.byteLength(json);
        let stored: StoredOutcome;
        if (inlineBytes + grown + size <= INLINE_BUDGET_BYTES) {
          grown += size;
          stored = { ...outcomeFields(outcome, facts, earlier), entry: json, parts: 0 };
        } else {
          const slices = split(Buffer.from(json));
          for (const [i, data] of slices.entries()) {
            spills.push({
              ref: ref.collection(PARTS).doc(partId(entry.processor_id, entry.execution_id, i)),
              part: { data, expireAt: expiry(now) },
            });
          }
          stored = { ...outcomeFields(outcome, facts, earlier), entry: null, parts: slices.length };
        }
        update[`processors.${entry.processor_id}`] = stored;
        wrote.push([entry.processor_id, stored]);
      }
      try {
        // Parts first: the execution document names them only once they exist.
        if (spills.length > 0) {
          await bounded('write parts', () => Promise.all(spills.map((s) => s.ref.set(s.part))), {
            writes: spills.length,
          });
        }
        const result = await bounded('checkpoint', () => ref.update(update, { lastUpdateTime: lastWrite }), {
          writes: 1,
        });
        lastWrite = result.writeTime;
        leaseUntil = now + leaseMs;
        inlineBytes += grown;
        for (const [id, stored] of wrote) storedNow[id] = stored;
      } catch (err) {
        // Written at the next try, unless a newer outcome of the same processor came meanwhile.
        for (const item of batch) {
          if (!pending.has(item.outcome.processor_id)) pending.set(item.outcome.processor_id, item);
        }
        if (codeOf(err) === FAILED_PRECONDITION || codeOf(err) === NOT_FOUND) {
          lost = true;
          throw elsewhere(key, 'was taken over by another delivery (this one stalled past its lease)');
        }
        throw err;
      }
    }

    function finish(): void {
      finished = true;
      clearInterval(ticker);
    }

    return {
      prior,
      record(outcome: RunOutcome, facts: OutcomeFacts = { reused: false, queueWait: null }) {
        if (finished) return;
        pending.set(outcome.processor_id, { outcome, facts });
      },
      async settle(_result: ProcessingCompleted) {
        await writing;
        if (pending.size > 0 || lost) await enqueue({});
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

  const history: LedgerHistory = {
    async underwriting(underwritingId: string, limit: number): Promise<ExecutionRecord[]> {
      const snapshot = await bounded(
        'read executions',
        () =>
          collection
            .where('underwriting_id', '==', underwritingId)
            .orderBy('created_at', 'desc')
            .limit(limit)
            .get(),
        { reads: 1 },
      );
      ops.reads += Math.max(0, snapshot.size - 1);
      return snapshot.docs.map((d) => toRecord(d.data() as StoredExecution));
    },
    async execution(key: string): Promise<ExecutionRecord | undefined> {
      const ref = collection.doc(documentId(key));
      const snapshot = await bounded('read', () => ref.get(), { reads: 1 });
      const stored = snapshot.data() as StoredExecution | undefined;
      if (!stored) return undefined;
      const { prior } = await readOutcomes(ref, stored.processors);
      return toRecord(stored, prior);
    },
    async executions(filter: ExecutionFilter) {
      const plan = planQuery(filter);
      let cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
      // With a filter the query cannot apply, documents are read in chunks and checked here,
      // at most HISTORY_LIMITS.scan of them per page.
      const chunk = plan.residual ? RESIDUAL_CHUNK : filter.limit + 1;
      const records: ExecutionRecord[] = [];
      let scanned = 0;
      for (;;) {
        const query = plannedQuery(collection, plan, filter, cursor).limit(chunk);
        const snapshot = await bounded('read executions', () => query.get(), { reads: 1 });
        ops.reads += Math.max(0, snapshot.size - 1);
        for (const doc of snapshot.docs) {
          if (records.length === filter.limit) return { records, next: cursor ? encodeCursor(cursor) : null };
          const stored = doc.data() as StoredExecution;
          const at = stored.completed_at?.toMillis() ?? 0;
          scanned += 1;
          cursor = {
            at,
            id: doc.id,
            ...(plan.order === 'underwriting_id' && { underwriting: stored.underwriting_id }),
          };
          const record = toRecord(stored);
          if (matches(record, filter, at)) records.push(record);
        }
        if (snapshot.size < chunk) return { records, next: null };
        if (scanned >= HISTORY_LIMITS.scan) return { records, next: cursor ? encodeCursor(cursor) : null };
      }
    },
  };

  return {
    kind: 'firestore',
    history,
    begin,
    beginDeadLetter: deadLetters.begin,
    warm: () => probe(Math.max(timeoutMs, FIRESTORE_DEFAULTS.warmTimeoutMs)),
    notReady: () => problem,
    operations: () => ({ ...ops }),
    async close() {
      closed = true;
      clearTimeout(recheck);
      // A call still retrying against an unreachable Firestore would hold terminate() for a minute.
      const waited = new AbortController();
      await Promise.race([
        db.terminate(),
        sleep(timeoutMs, undefined, { signal: waited.signal }).catch(() => {}),
      ]);
      waited.abort();
    },
  };
}

function outcomeFields(
  outcome: RecordedOutcome,
  facts: OutcomeFacts,
  earlier: StoredOutcome | undefined,
): Omit<StoredOutcome, 'entry' | 'parts'> {
  const ids = earlier && !facts.reused ? (earlier.execution_ids ?? [earlier.execution_id]) : [];
  return {
    status: outcome.status,
    attempts: outcome.attempts,
    execution_id: outcome.execution_id,
    execution_time: outcome.execution_time,
    execution_ids: ids.includes(outcome.execution_id) ? ids : [...ids, outcome.execution_id],
    queue_wait: facts.queueWait,
    reused: facts.reused,
  };
}

/** Documents read at a time when part of a filter is checked here rather than by the query. */
const RESIDUAL_CHUNK = 100;

/** The plan's query (its index is in deploy/setup.sh; tests/unit/query-plan.test.ts), from `cursor` on. */
export function plannedQuery(
  collection: Query,
  plan: QueryPlan,
  filter: ExecutionFilter,
  cursor: Cursor | undefined,
): Query {
  let query = collection;
  if (plan.equal) query = query.where(plan.equal.field, '==', plan.equal.value);
  if (plan.contains) query = query.where(plan.contains.field, 'array-contains', plan.contains.value);
  const at = (iso: string) => Timestamp.fromDate(new Date(iso));
  if (plan.order === 'underwriting_id') {
    const prefix = filter.underwritingPrefix ?? '';
    query = query
      .where('underwriting_id', '>=', prefix)
      .where('underwriting_id', '<', `${prefix}\uf8ff`)
      .orderBy('underwriting_id', 'asc')
      .orderBy('completed_at', 'desc')
      .orderBy(FieldPath.documentId(), 'desc');
    return cursor
      ? query.startAfter(cursor.underwriting ?? '', Timestamp.fromMillis(cursor.at), cursor.id)
      : query;
  }
  if (filter.since !== undefined) query = query.where('completed_at', '>=', at(filter.since));
  if (filter.until !== undefined) query = query.where('completed_at', '<=', at(filter.until));
  query = query.orderBy('completed_at', 'desc').orderBy(FieldPath.documentId(), 'desc');
  return cursor ? query.startAfter(Timestamp.fromMillis(cursor.at), cursor.id) : query;
}
