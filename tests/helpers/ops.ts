import type { AddressInfo } from 'node:net';

import Fastify, { type FastifyInstance } from 'fastify';

import { registerOpsPage } from '../../src/ops/page.js';
import type {
  ExecutionPage,
  ExecutionQuery,
  ExecutionView,
  OpsApi,
  OpsIdentity,
  ProcessorRunView,
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
  /** Records `execution` as the newest of its underwriting (replacing one with the same key). */
  record(execution: ExecutionView): void;
}

/**
 * An `OpsApi` over a few realistic underwritings: one partially failed (`uw_1001`: a bank statement
 * parser whose upstream answered 503), one that succeeded, one with a timeout, one failed. A re-run
 * is recorded as a running execution; with `finishReruns`, it is read back completed the next time.
 */
export function fakeOpsApi(options: { finishReruns?: boolean; extra?: ExecutionView[] } = {}): FakeOpsApi {
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

  return {
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
        rerun: { of: latest.key, requested_by: by.email, reason: request.reason, processors: names },
        processors: [],
      });
      return Promise.resolve({ key });
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
