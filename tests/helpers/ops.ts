import type { AddressInfo } from 'node:net';

import Fastify, { type FastifyInstance } from 'fastify';

import { registerOpsPage } from '../../src/ops/page.js';
import type {
  AuditEntry,
  BulkRerunRequest,
  CircuitView,
  DryRunView,
  ExecutionPage,
  ExecutionQuery,
  ExecutionView,
  OpsApi,
  OpsIdentity,
  JobAnswer,
  Pause,
  ProcessorRunView,
  ProcessorsView,
  RerunJob,
  RerunRequest,
  StatsView,
  UnderwritingView,
} from '../../src/ops/views.js';

export const OPERATOR: OpsIdentity = { email: 'ops@example.com', role: 'operator' };
export const READER: OpsIdentity = { email: 'analyst@example.com', role: 'reader' };

function run(processorId: string, over: Partial<ProcessorRunView> = {}): ProcessorRunView {
  return {
    processor_id: processorId,
    status: 'completed',
    attempts: 1,
    execution_ids: [`01JEXEC${processorId.toUpperCase().replace(/[^A-Z0-9]/g, '')}`.slice(0, 26)],
    queue_wait: 0.05,
    run_time: 1.2,
    error_message: null,
    error_code: over.status === 'failed' ? 'PROCESSOR_FAILED' : null,
    timeout_phase: null,
    reused: false,
    ...over,
  };
}

function execution(
  underwritingId: string,
  minutesAgo: number,
  processors: ProcessorRunView[],
): ExecutionView {
  const received = new Date(Date.UTC(2026, 10, 30, 12, 0, 0) - minutesAgo * 60_000);
  const took = Math.max(0, ...processors.map((p) => (p.queue_wait ?? 0) + p.run_time)) + 0.3;
  const completed = processors.filter((p) => p.status === 'completed').length;
  return {
    key: `msg-${underwritingId}-${minutesAgo}`,
    underwriting_id: underwritingId,
    source_message_id: `${9_000_000 + minutesAgo}`,
    received_at: received.toISOString(),
    finished_at: new Date(received.getTime() + took * 1000).toISOString(),
    deliveries: 1,
    overall_status:
      completed === processors.length ? 'success' : completed === 0 ? 'failed' : 'partial_success',
    published_message_id: `${8_000_000 + minutesAgo}`,
    rerun: null,
    processors,
  };
}

/** What a test can see of the fake: the re-runs asked for, and a way to finish one. */
export interface FakeOpsApi extends OpsApi {
  readonly reruns: { underwritingId: string; request: RerunRequest; by: OpsIdentity; key: string }[];
  /** Bulk re-run requests (dry runs included), with their idempotency keys. */
  readonly bulk: { request: BulkRerunRequest; by: OpsIdentity; key: string | undefined }[];
  /** Audit entries, oldest first. */
  readonly trail: AuditEntry[];
  /** Every executions query, as the page asked it. */
  readonly queries: ExecutionQuery[];
  /** Records `execution` as the newest of its underwriting (replacing one with the same key). */
  record(execution: ExecutionView): void;
}

/**
 * An `OpsApi` over a few realistic underwritings: one partially failed (`uw_1001`: a bank statement
 * parser whose upstream answered 503), one that succeeded, one with a timeout, one failed. A re-run
 * is recorded as a running execution; with `finishReruns`, it is read back completed the next time.
 */
export function fakeOpsApi(
  options: { finishReruns?: boolean; extra?: ExecutionView[]; circuits?: CircuitView[] } = {},
): FakeOpsApi {
  const executions: ExecutionView[] = [
    execution('uw_1001', 3, [
      run('bank_stmt_v1', {
        status: 'failed',
        attempts: 3,
        run_time: 0.42,
        error_message: 'upstream answered 503 (run 3)',
      }),
      run('secretary_of_state_v1', { queue_wait: 0.4, run_time: 2.1 }),
      run('credit_report_v2', { queue_wait: 0.02, run_time: 3.4 }),
    ]),
    execution('uw_1002', 9, [
      run('bank_stmt_v1', { run_time: 0.9 }),
      run('secretary_of_state_v1', { run_time: 1.7 }),
    ]),
    execution('uw_1003', 15, [
      run('bank_stmt_v1', { run_time: 0.8 }),
      run('clear_business_report_v1', {
        status: 'timeout',
        run_time: 5,
        timeout_phase: 'terminated',
        error_message: null,
      }),
    ]),
    execution('uw_1004', 40, [
      run('bank_stmt_v1', { status: 'failed', run_time: 0.01, error_message: 'processor not installed' }),
    ]),
    ...(options.extra ?? []),
  ];
  const reruns: FakeOpsApi['reruns'] = [];
  const bulk: FakeOpsApi['bulk'] = [];
  const queries: ExecutionQuery[] = [];
  const trail: AuditEntry[] = [];
  const pauses = new Map<string, Pause>();
  const jobs = new Map<string, { job: RerunJob; key: string | undefined }>();
  const scope = { scope: 'fleet' as const, note: null };
  const at = () => '2026-11-30T12:00:00.000Z';
  const rejectWith = (code: string, statusCode: number, message: string) =>
    Promise.reject(Object.assign(new Error(message), { code, statusCode }));
  const audit = (
    by: OpsIdentity,
    action: AuditEntry['action'],
    subject: string,
    reason: string | undefined,
    result: AuditEntry['result'],
  ) =>
    trail.push({
      id: `01JAUDIT${String(trail.length).padStart(18, '0')}`,
      at: at(),
      by: by.email,
      action,
      subject,
      reason: reason ?? null,
      selection: { subject },
      result,
    });
  const processorIds = () =>
    [...new Set(executions.flatMap((e) => e.processors.map((p) => p.processor_id)))].sort();
  const newestFirst = () => [...executions].sort((a, b) => b.received_at.localeCompare(a.received_at));
  const notFound = (id: string) =>
    Object.assign(new Error(`no execution of underwriting ${id} is recorded`), {
      code: 'NOT_FOUND',
      statusCode: 404,
    });

  const record = (next: ExecutionView) => {
    const at = executions.findIndex((e) => e.key === next.key);
    if (at >= 0) executions.splice(at, 1, next);
    else executions.push(next);
  };

  const api: Omit<
    FakeOpsApi,
    | 'processors'
    | 'pause'
    | 'resume'
    | 'bulkRerun'
    | 'job'
    | 'jobs'
    | 'cancelJob'
    | 'audit'
    | 'bulk'
    | 'trail'
    | 'queries'
  > = {
    reruns,
    record,
    underwriting(id: string): Promise<UnderwritingView> {
      const mine = newestFirst().filter((e) => e.underwriting_id === id);
      if (mine.length === 0) return Promise.reject(notFound(id));
      const view = { underwriting_id: id, executions: structuredClone(mine) };
      if (options.finishReruns) {
        for (const e of executions) if (e.rerun && e.overall_status === null) finish(e);
      }
      return Promise.resolve(view);
    },
    executions(query: ExecutionQuery): Promise<ExecutionPage> {
      queries.push(query);
      const matching = newestFirst().filter(
        (e) =>
          (query.status === undefined ||
            (query.status === 'timeout'
              ? e.processors.some((p) => p.status === 'timeout')
              : e.overall_status === query.status)) &&
          (query.processor === undefined || e.processors.some((p) => p.processor_id === query.processor)),
      );
      const start = query.cursor ? Number(query.cursor) : 0;
      const page = matching.slice(start, start + query.limit);
      const next = start + query.limit < matching.length ? String(start + query.limit) : null;
      return Promise.resolve({ executions: structuredClone(page), next_cursor: next });
    },
    stats(window): Promise<StatsView> {
      const ids = [...new Set(executions.flatMap((e) => e.processors.map((p) => p.processor_id)))].sort();
      return Promise.resolve({
        window,
        sample: {
          executions: executions.length,
          limit: 1000,
          truncated: false,
          as_of: '2026-11-30T12:00:00.000Z',
        },
        in_flight: 1,
        processors: ids.map((id) => {
          const runs = executions.flatMap((e) => e.processors.filter((p) => p.processor_id === id));
          const rate = (status: string) => runs.filter((r) => r.status === status).length / runs.length;
          return {
            processor_id: id,
            runs: runs.length,
            skipped: 0,
            completed_rate: rate('completed'),
            failed_rate: rate('failed'),
            timeout_rate: rate('timeout'),
            p50_run_time: runs[0]?.run_time ?? null,
            p95_run_time: Math.max(...runs.map((r) => r.run_time)),
          };
        }),
      });
    },
    rerun(underwritingId: string, request: RerunRequest, by: OpsIdentity): Promise<{ key: string }> {
      const latest = newestFirst().find((e) => e.underwriting_id === underwritingId);
      if (!latest) return Promise.reject(notFound(underwritingId));
      const key = `rerun-${underwritingId}-${reruns.length + 1}`;
      reruns.push({ underwritingId, request, by, key });
      const names =
        request.processors === 'failed'
          ? latest.processors.filter((p) => p.status !== 'completed').map((p) => p.processor_id)
          : request.processors;
      record({
        ...latest,
        key,
        source_message_id: `rerun-message-${reruns.length}`,
        received_at: new Date(Date.parse(latest.received_at) + 60_000 * reruns.length).toISOString(),
        finished_at: null,
        overall_status: null,
        published_message_id: null,
        rerun: {
          of: latest.key,
          requested_by: by.email,
          reason: request.reason,
          processors: names,
          job: null,
        },
        processors: [],
      });
      return Promise.resolve({ key });
    },
  };

  async function processors(): Promise<ProcessorsView> {
    const stats = await api.stats('24h');
    const circuits = options.circuits ?? [];
    return {
      ...scope,
      as_of: at(),
      in_flight: 1,
      samples: { '1h': stats.sample, '24h': stats.sample },
      processors: processorIds().map((id) => {
        const figures = stats.processors.find((p) => p.processor_id === id);
        const pause = pauses.get(id) ?? null;
        const circuit = circuits.find((c) => c.processor_id === id) ?? null;
        const shown = figures && {
          runs: figures.runs,
          skipped: figures.skipped,
          failed_rate: figures.failed_rate,
          timeout_rate: figures.timeout_rate,
          p95_run_time: figures.p95_run_time,
        };
        return {
          processor_id: id,
          installed: true,
          state: pause ? 'paused' : circuit?.state === 'open' ? 'circuit_open' : 'active',
          pause,
          circuit,
          last_hour: shown ?? null,
          last_day: shown ?? null,
        };
      }),
    };
  }

  /** The latest execution of each underwriting whose entry of a processor has the status asked for. */
  function selected(request: BulkRerunRequest) {
    const latest = new Map<string, ExecutionView>();
    for (const e of newestFirst()) if (!latest.has(e.underwriting_id)) latest.set(e.underwriting_id, e);
    return [...latest.values()].filter((e) =>
      e.processors.some(
        (p) =>
          request.processors.includes(p.processor_id) &&
          p.status === request.status &&
          (request.error_code === undefined || p.error_code === request.error_code),
      ),
    );
  }

  function jobAnswer(job: RerunJob, created: boolean): JobAnswer {
    return { job: structuredClone(job), created, ...scope };
  }

  return {
    ...api,
    bulk,
    trail,
    queries,
    processors,
    pause(id, reason, by) {
      if (!processorIds().includes(id))
        return rejectWith('NOT_FOUND', 404, `processor ${id} is not installed`);
      const pause = { processor_id: id, paused_by: by.email, paused_at: at(), reason };
      pauses.set(id, pause);
      audit(by, 'pause', id, reason, { paused_at: pause.paused_at });
      return Promise.resolve({ processor_id: id, pause, ...scope });
    },
    resume(id, reason, by) {
      const pause = pauses.get(id);
      if (!pause) return rejectWith('NOT_FOUND', 404, `processor ${id} is not paused`);
      pauses.delete(id);
      audit(by, 'resume', id, reason, { lifted: pause.reason });
      return Promise.resolve({ processor_id: id, pause, ...scope });
    },
    bulkRerun(request, by, key) {
      bulk.push({ request, by, key });
      const found = selected(request);
      const selection = {
        processors: request.processors,
        status: request.status,
        since: request.since,
        until: request.until ?? at(),
        error_code: request.error_code ?? null,
        error_text: request.error_text ?? null,
      };
      if (request.dry_run) {
        const dry: DryRunView = {
          dry_run: true,
          selection,
          count: found.length,
          truncated: false,
          scanned: executions.length,
          sample: found.map((e) => ({
            underwriting_id: e.underwriting_id,
            of: e.key,
            processors: request.processors,
            completed_at: e.finished_at ?? e.received_at,
            error_message:
              e.processors.find((p) => request.processors.includes(p.processor_id))?.error_message ?? null,
          })),
        };
        return Promise.resolve(dry);
      }
      const again = [...jobs.values()].find((j) => key !== undefined && j.key === key);
      if (again) return Promise.resolve(jobAnswer(again.job, false));
      const id = `job${jobs.size + 1}`;
      const job: RerunJob = {
        id,
        idempotency_key: key ?? null,
        state: 'running',
        selection,
        reason: request.reason,
        requested_by: by.email,
        pace_per_second: request.pace_per_second ?? 2,
        created_at: at(),
        updated_at: at(),
        finished_at: null,
        cancelled_by: null,
        cancelled_at: null,
        counts: { selected: found.length, requested: 0, finished: 0, failed: 0, skipped: 0 },
      };
      jobs.set(id, { job, key });
      audit(by, 'rerun_job', id, request.reason, { job: id, selected: found.length });
      return Promise.resolve(jobAnswer(job, true));
    },
    job(id) {
      const held = jobs.get(id);
      if (!held) return rejectWith('NOT_FOUND', 404, `no bulk re-run job ${id}`);
      // Each read moves it on: one more requested and finished, until done.
      const c = held.job.counts;
      if (held.job.state === 'running' && c.requested < c.selected) {
        c.requested += 1;
        c.finished += 1;
      } else if (held.job.state === 'running') {
        held.job.state = 'done';
        held.job.finished_at = at();
      }
      return Promise.resolve(jobAnswer(held.job, false));
    },
    jobs() {
      return Promise.resolve({
        jobs: [...jobs.values()].map((j) => structuredClone(j.job)).reverse(),
        ...scope,
      });
    },
    cancelJob(id, reason, by) {
      const held = jobs.get(id);
      if (!held) return rejectWith('NOT_FOUND', 404, `no bulk re-run job ${id}`);
      if (held.job.state === 'done')
        return rejectWith('RERUN_REFUSED', 409, `bulk re-run job ${id} is over (done)`);
      held.job = { ...held.job, state: 'cancelled', cancelled_by: by.email, cancelled_at: at() };
      audit(by, 'rerun_job_cancel', id, reason, { counts: held.job.counts });
      return Promise.resolve(jobAnswer(held.job, false));
    },
    audit({ limit, before }) {
      const newest = [...trail].reverse().filter((e) => before === undefined || e.id < before);
      const page = newest.slice(0, limit);
      return Promise.resolve({
        entries: page,
        next_before: newest.length > limit ? (page.at(-1)?.id ?? null) : null,
        ...scope,
      });
    },
  };

  function finish(e: ExecutionView): void {
    const latestDone = newestFirst().find((x) => x.underwriting_id === e.underwriting_id && x.overall_status);
    const names = new Set(e.rerun?.processors ?? []);
    const processors = (latestDone?.processors ?? []).map((p) =>
      names.has(p.processor_id)
        ? run(p.processor_id, {
            execution_ids: [`01JRERUN${p.processor_id.toUpperCase()}`.slice(0, 26)],
            run_time: 0.5,
          })
        : { ...p, reused: true },
    );
    record({
      ...e,
      finished_at: new Date(Date.parse(e.received_at) + 900).toISOString(),
      overall_status: processors.every((p) => p.status === 'completed') ? 'success' : 'partial_success',
      published_message_id: `published-${e.key}`,
      processors,
    });
  }
}

/**
 * The page on a real Fastify server on loopback, in a stand-in for the authenticated `/ops` scope:
 * it sets `request.opsIdentity` to `identity()` for every request, as the real scope does after
 * verifying the caller.
 */
export async function servePage(
  api: OpsApi,
  identity: () => OpsIdentity,
): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify();
  await app.register(
    (scope, _options, registered) => {
      scope.decorateRequest('opsIdentity', null as unknown as OpsIdentity);
      scope.addHook('onRequest', (request, _reply, next) => {
        request.opsIdentity = identity();
        next();
      });
      registerOpsPage(scope, api);
      registered();
    },
    { prefix: '/ops' },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { app, base: `http://127.0.0.1:${port}` };
}
