// LEDGER=firestore: the operations state in collections beside the ledger's (opsCollections), seen
// by every instance. No transactions (on the emulator two parallel transactions creating one
// document can both fail, firebase-tools #6758): a job is made with `create()`, and every later
// write to it is a batch conditional on the job document's last update time, so the write that
// moves items and the counters that count them is atomic, and a carrier that lost its lease, or
// whose job was cancelled, can write nothing more.
import { FieldPath, FieldValue, Timestamp, type Firestore, type WriteBatch } from '@google-cloud/firestore';

import { GRPC, codeOf, firestoreCall } from './firestore-client.js';
import {
  AuditEntrySchema,
  PauseSchema,
  RerunItemSchema,
  StoredRerunJobSchema,
  opsCollections,
  type AuditEntry,
  type JobChange,
  type OpsState,
} from './ops-records.js';

export interface FirestoreOpsOptions {
  db: Firestore;
  /** `LEDGER_COLLECTION`: the collections are named after it. */
  ledgerCollection: string;
  /** `OPS_AUDIT_TTL_DAYS`: audit entries, jobs and their items expire this long after they were written. */
  auditTtlDays: number;
}

const DAY_MS = 86_400_000;

export function createFirestoreOpsState(options: FirestoreOpsOptions): OpsState {
  const { db } = options;
  const names = opsCollections(options.ledgerCollection);
  const pauses = db.collection(names.pauses);
  const audit = db.collection(names.audit);
  const reruns = db.collection(names.reruns);
  const expireAt = () => Timestamp.fromMillis(Date.now() + options.auditTtlDays * DAY_MS);

  function addAudit(batch: WriteBatch, entry: AuditEntry): void {
    batch.create(audit.doc(entry.id), {
      ...entry,
      selection: JSON.stringify(entry.selection),
      result: JSON.stringify(entry.result),
      expireAt: expireAt(),
    });
  }

  const items = (jobId: string) => reruns.doc(jobId).collection(names.items);
  const readJob = (data: Record<string, unknown>) => StoredRerunJobSchema.parse(withoutExpiry(data));
  const readItem = (data: Record<string, unknown>) => RerunItemSchema.parse(withoutExpiry(data));

  return {
    scope: 'fleet',
    pauses: {
      scope: 'fleet',
      async list() {
        const snapshot = await firestoreCall('read pauses', () => pauses.get());
        return snapshot.docs.map((d) => PauseSchema.parse(d.data()));
      },
      async pause(pause, entry) {
        const batch = db.batch();
        batch.set(pauses.doc(pause.processor_id), pause);
        addAudit(batch, entry);
        await firestoreCall('pause', () => batch.commit());
      },
      async resume(processorId, entry) {
        const ref = pauses.doc(processorId);
        // Twice at most: a pause written between the read and the delete is read again.
        for (let attempt = 0; ; attempt += 1) {
          const snapshot = await firestoreCall('read pause', () => ref.get());
          if (!snapshot.exists || !snapshot.updateTime) return undefined;
          const lifted = PauseSchema.parse(snapshot.data());
          const batch = db.batch();
          batch.delete(ref, { lastUpdateTime: snapshot.updateTime });
          addAudit(batch, entry(lifted));
          try {
            await firestoreCall('resume', () => batch.commit());
            return lifted;
          } catch (err) {
            if (attempt > 0 || codeOf(err) !== GRPC.FAILED_PRECONDITION) throw err;
          }
        }
      },
    },
    audit: {
      async record(entry) {
        const batch = db.batch();
        addAudit(batch, entry);
        await firestoreCall('write audit entry', () => batch.commit());
      },
      async list({ limit, before }) {
        // Ids are ULIDs: newest first is the order of the `id` field (Firestore scans document
        // names only upwards), which its automatic single-field index serves.
        let query = audit.orderBy('id', 'desc');
        if (before !== undefined) query = query.startAfter(before);
        const snapshot = await firestoreCall('read audit', () => query.limit(limit).get());
        return snapshot.docs.map((d) => {
          const { selection, result, ...rest } = withoutExpiry(d.data());
          return AuditEntrySchema.parse({
            ...rest,
            selection: JSON.parse(String(selection)) as unknown,
            result: JSON.parse(String(result)) as unknown,
          });
        });
      },
    },
    jobs: {
      async create(job, entry) {
        const batch = db.batch();
        batch.create(reruns.doc(job.id), { ...job, expireAt: expireAt() });
        addAudit(batch, entry);
        try {
          const [written] = await firestoreCall('create job', () => batch.commit());
          return { created: true, version: written?.writeTime };
        } catch (err) {
          if (codeOf(err) !== GRPC.ALREADY_EXISTS) throw err;
        }
        const snapshot = await firestoreCall('read job', () => reruns.doc(job.id).get());
        const data = snapshot.data();
        if (!data) throw new Error(`job ${job.id} was there and is gone`);
        return { created: false, job: readJob(data) };
      },
      async get(id) {
        const snapshot = await firestoreCall('read job', () => reruns.doc(id).get());
        const data = snapshot.data();
        return data && { job: readJob(data), version: snapshot.updateTime };
      },
      async recent(limit) {
        const query = reruns.orderBy('created_at', 'desc').limit(limit);
        const snapshot = await firestoreCall('read jobs', () => query.get());
        return snapshot.docs.map((d) => readJob(d.data()));
      },
      async active(limit) {
        const query = reruns.where('active', '==', true).select().limit(limit);
        const snapshot = await firestoreCall('find active jobs', () => query.get());
        return snapshot.docs.map((d) => d.id);
      },
      async commit(id, version, change: JobChange) {
        const update: Record<string, unknown> = { ...change.job };
        for (const [name, add] of Object.entries(change.counts ?? {})) {
          if (add !== 0) update[`counts.${name}`] = FieldValue.increment(add);
        }
        const batch = db.batch();
        batch.update(reruns.doc(id), update, { lastUpdateTime: version as Timestamp });
        for (const item of change.items ?? [])
          batch.set(items(id).doc(item.id), { ...item, expireAt: expireAt() });
        if (change.audit) addAudit(batch, change.audit);
        try {
          const [written] = await firestoreCall('write job', () => batch.commit());
          return written?.writeTime;
        } catch (err) {
          const code = codeOf(err);
          if (code === GRPC.FAILED_PRECONDITION || code === GRPC.NOT_FOUND) return undefined;
          throw err;
        }
      },
      async items(id, state, { limit, after, published }) {
        let query = items(id).where('state', '==', state);
        if (published !== undefined) query = query.where('published', '==', published);
        query = query.orderBy(FieldPath.documentId());
        if (after !== undefined) query = query.startAfter(after);
        const snapshot = await firestoreCall('read job items', () => query.limit(limit).get());
        return snapshot.docs.map((d) => readItem(d.data()));
      },
    },
  };
}

/** A stored document's fields without the TTL policy's `expireAt` (the schemas are strict). */
function withoutExpiry(data: Record<string, unknown>): Record<string, unknown> {
  const fields = { ...data };
  delete fields['expireAt'];
  return fields;
}
