// LEDGER=memory: the operations state within this instance, for its lifetime. A pause holds for
// this instance only (the API and the page say so); jobs are carried on by this instance only.
import {
  NO_COUNTS,
  type AuditEntry,
  type JobChange,
  type OpsState,
  type Pause,
  type RerunItem,
  type StoredRerunJob,
} from './ops-records.js';

/** Bounds: the oldest audit entries and finished jobs are forgotten past them. */
export const OPS_MEMORY_LIMITS = { audit: 10_000, jobs: 100 } as const;

export function createMemoryOpsState(): OpsState {
  const pauses = new Map<string, Pause>();
  const audit: AuditEntry[] = [];
  const jobs = new Map<string, { job: StoredRerunJob; version: number; items: Map<string, RerunItem> }>();

  const remember = (entry: AuditEntry) => {
    audit.push(structuredClone(entry));
    if (audit.length > OPS_MEMORY_LIMITS.audit) audit.shift();
  };

  function forgetOldJobs(): void {
    for (const [id, held] of jobs) {
      if (jobs.size <= OPS_MEMORY_LIMITS.jobs) return;
      if (!held.job.active) jobs.delete(id);
    }
  }

  return {
    scope: 'instance',
    pauses: {
      scope: 'instance',
      list: () => Promise.resolve([...pauses.values()].map((p) => ({ ...p }))),
      pause(pause, entry) {
        pauses.set(pause.processor_id, { ...pause });
        remember(entry);
        return Promise.resolve();
      },
      resume(processorId, entry) {
        const lifted = pauses.get(processorId);
        if (!lifted) return Promise.resolve(undefined);
        pauses.delete(processorId);
        remember(entry(lifted));
        return Promise.resolve(lifted);
      },
    },
    audit: {
      record(entry) {
        remember(entry);
        return Promise.resolve();
      },
      list({ limit, before }) {
        const newest = [...audit].reverse().filter((e) => before === undefined || e.id < before);
        return Promise.resolve(newest.slice(0, limit).map((e) => structuredClone(e)));
      },
    },
    jobs: {
      create(job, entry) {
        const found = jobs.get(job.id);
        if (found) return Promise.resolve({ created: false, job: structuredClone(found.job) });
        jobs.set(job.id, { job: structuredClone(job), version: 1, items: new Map() });
        remember(entry);
        forgetOldJobs();
        return Promise.resolve({ created: true, version: 1 });
      },
      get(id) {
        const held = jobs.get(id);
        return Promise.resolve(held && { job: structuredClone(held.job), version: held.version });
      },
      recent(limit) {
        const newest = [...jobs.values()]
          .map((h) => h.job)
          .sort((a, b) => b.created_at.localeCompare(a.created_at));
        return Promise.resolve(newest.slice(0, limit).map((j) => structuredClone(j)));
      },
      active(limit) {
        return Promise.resolve(
          [...jobs.values()]
            .filter((h) => h.job.active)
            .slice(0, limit)
            .map((h) => h.job.id),
        );
      },
      commit(id, version, change: JobChange) {
        const held = jobs.get(id);
        if (!held || held.version !== version) return Promise.resolve(undefined);
        held.job = { ...held.job, ...structuredClone(change.job ?? {}) };
        const counts = { ...NO_COUNTS, ...held.job.counts };
        for (const [name, add] of Object.entries(change.counts ?? {}))
          counts[name as keyof typeof counts] += add;
        held.job.counts = counts;
        for (const item of change.items ?? []) held.items.set(item.id, structuredClone(item));
        if (change.audit) remember(change.audit);
        held.version += 1;
        return Promise.resolve(held.version);
      },
      items(id, state, { limit, after, published }) {
        const held = jobs.get(id);
        const found = [...(held?.items.values() ?? [])]
          .filter((i) => i.state === state && (published === undefined || i.published === published))
          .filter((i) => after === undefined || i.id > after)
          .sort((a, b) => (a.id < b.id ? -1 : 1));
        return Promise.resolve(found.slice(0, limit).map((i) => structuredClone(i)));
      },
    },
  };
}
