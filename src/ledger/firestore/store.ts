// The Firestore ledger's way to the store: one client and collection, every call bounded, and
// whether the store is available now (readiness), checked again while it is not.
import { setTimeout as sleep } from 'node:timers/promises';

import { Timestamp, type CollectionReference, type Firestore } from '@google-cloud/firestore';

import { OrchestratorError, messageOf } from '../../errors.js';
import type { Logger } from '../../logging.js';
import {
  FIRESTORE_CALL_MS,
  firestoreCall,
  firestoreClient,
  isExpected,
  type FirestoreTarget,
} from '../firestore-client.js';
import { executionConverter, type StoredExecution } from './converter.js';

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

export interface StoreOptions extends FirestoreTarget {
  collection: string;
  ttlDays: number;
  log: Logger;
  timeoutMs?: number | undefined;
  /** The service's Firestore client (terminated by `close`); else one of its own. */
  db?: Firestore | undefined;
}

export type Cost = { reads?: number; writes?: number };

/** What the ledger's jobs (claims, parts, history, dead letters) share of the store. */
export interface LedgerStore {
  readonly db: Firestore;
  /** The collection as it is (dead letters, the readiness probe beside the executions). */
  readonly collection: CollectionReference;
  /** The same collection, its documents read as executions (`converter.ts`). */
  readonly executions: CollectionReference<StoredExecution>;
  /**
   * Runs one Firestore call within the ledger's bound, counting its cost. Errors a caller tells
   * apart (the document exists, a precondition failed) are rethrown as they are; any other
   * failure, or the bound, makes the ledger unavailable (LEDGER_UNAVAILABLE).
   */
  bounded: <T>(what: string, call: () => Promise<T>, cost: Cost, boundMs?: number) => Promise<T>;
  /** Counts reads a call's cost did not know of beforehand (documents a query returned). */
  countReads: (reads: number) => void;
  /** When the TTL policy deletes a document written at `nowMs`. */
  expiry: (nowMs: number) => Timestamp;
  warm: () => Promise<void>;
  notReady: () => string | undefined;
  operations: () => { reads: number; writes: number };
  close: () => Promise<void>;
}

const DAY_MS = 86_400_000;
const NOT_CHECKED = 'not checked yet';

export function openLedgerStore(options: StoreOptions): LedgerStore {
  const { log } = options;
  const timeoutMs = options.timeoutMs ?? FIRESTORE_DEFAULTS.timeoutMs;
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

  async function bounded<T>(
    what: string,
    call: () => Promise<T>,
    cost: Cost,
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

  return {
    db,
    collection,
    executions: collection.withConverter(executionConverter),
    bounded,
    countReads: (reads) => {
      ops.reads += reads;
    },
    expiry: (nowMs) => Timestamp.fromMillis(nowMs + options.ttlDays * DAY_MS),
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
