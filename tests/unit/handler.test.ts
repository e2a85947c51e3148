import { describe, expect, it } from 'vitest';

import { OrchestratorError } from '../../src/errors.js';
import type { ProcessingCompleted } from '../../src/events/processing-completed.js';
import { createMemoryLedger } from '../../src/ledger/memory.js';
import type { Receipt } from '../../src/orchestrator.js';
import type { RunOutcome } from '../../src/processors/run.js';
import { createMessageHandler, type HandlerDeps } from '../../src/transport/handler.js';
import type { InboundMessage } from '../../src/transport/message.js';
import { contextFromAttributes } from '../../src/telemetry/trace-context.js';
import { capturingLog } from '../helpers/fixtures.js';

const VALID = JSON.stringify({
  event: 'underwriting.created',
  data: { underwriting_id: 'uw_1', documents: ['doc_1'] },
});

const message = (data: string, id = 'm1'): InboundMessage => ({
  id,
  data: Buffer.from(data),
  attributes: { origin: 'test' },
  receivedAt: performance.now(),
  transport: 'pull',
});

const RESULT = {
  event: 'processing.completed',
  underwriting_id: 'uw_1',
  completed_at: '2024-01-15T10:35:00.000Z',
} as ProcessingCompleted;

function fakes(overrides: Partial<HandlerDeps> = {}) {
  const { log, lines } = capturingLog();
  const published: string[] = [];
  const deadLettered: [string, string][] = [];
  const deps: HandlerDeps = {
    orchestrator: { process: () => Promise.resolve(RESULT) },
    publisher: {
      publish: (_result, sourceMessageId) => {
        published.push(sourceMessageId);
        return Promise.resolve(`out-${sourceMessageId}`);
      },
    },
    deadLetter: (m, reason) => {
      deadLettered.push([m.id, reason]);
      return Promise.resolve();
    },
    log,
    ...overrides,
  };
  return { handler: createMessageHandler(deps), published, deadLettered, lines };
}

/** An orchestrator whose runs finish only when told to, or when their receipt's signal aborts. */
function heldOrchestrator() {
  const release: (() => void)[] = [];
  return {
    release: () => release.forEach((r) => r()),
    orchestrator: {
      process: (_event: unknown, receipt: Receipt) =>
        new Promise<ProcessingCompleted>((resolve, reject) => {
          release.push(() => resolve(RESULT));
          receipt.signal?.addEventListener('abort', () => reject(receipt.signal?.reason as Error));
        }),
    },
  };
}

describe('message handler', () => {
  it('acks a valid event once its processing.completed is published', async () => {
    const { handler, published } = fakes();
    expect(await handler.handle(message(VALID))).toBe('ack');
    expect(published).toEqual(['m1']);
  });

  it.each([
    ['not JSON', '{"event":', /^not JSON: /],
    ['an unknown event', '{"event":"underwriting.deleted"}', /^unknown event "underwriting.deleted"$/],
    ['a body that fails the schema', '{"event":"underwriting.created","data":{}}', /^invalid underwriting/],
  ])('dead-letters %s with its reason, then acks it', async (_name, data, reason) => {
    const { handler, published, deadLettered } = fakes();
    expect(await handler.handle(message(data))).toBe('ack');
    expect(deadLettered).toEqual([['m1', expect.stringMatching(reason) as string]]);
    expect(published).toEqual([]);
  });

  it('nacks a poison message the dead-letter topic could not take', async () => {
    const { handler, lines } = fakes({
      deadLetter: () => Promise.reject(new OrchestratorError('DEAD_LETTER_FAILED', 'topic gone')),
    });
    expect(await handler.handle(message('nope'))).toBe('nack');
    expect(lines).toContainEqual(
      expect.objectContaining({ severity: 'WARNING', code: 'DEAD_LETTER_FAILED', verdict: 'nack' }),
    );
  });

  it('nacks with a WARNING when a retry can fix it (publish failed, document source down)', async () => {
    for (const err of [
      new OrchestratorError('PUBLISH_FAILED', 'publishing: topic does not exist'),
      new OrchestratorError('DOCUMENT_SOURCE_UNAVAILABLE', 'down'),
    ]) {
      const { handler, lines } = fakes({ publisher: { publish: () => Promise.reject(err) } });
      expect(await handler.handle(message(VALID))).toBe('nack');
      expect(lines).toContainEqual(
        expect.objectContaining({ severity: 'WARNING', code: err.code, source_message_id: 'm1' }),
      );
    }
  });

  it('says on its retry line which transport brought the message and which delivery it is', async () => {
    const err = new OrchestratorError('PUBLISH_FAILED', 'publishing: topic does not exist');
    const { handler, lines } = fakes({ publisher: { publish: () => Promise.reject(err) } });
    await handler.handle({ ...message(VALID), transport: 'push', deliveryAttempt: 3 });
    await handler.handle({ ...message(VALID, 'm2'), transport: 'pull' });
    const retries = lines.filter((l) => l['message'] === 'event will be retried');
    expect(retries).toEqual([
      expect.objectContaining({ source_message_id: 'm1', transport: 'push', delivery_attempt: 3 }),
      // Pub/Sub counts deliveries only with a dead-letter policy: unknown otherwise.
      expect.objectContaining({ source_message_id: 'm2', transport: 'pull', delivery_attempt: null }),
    ]);
  });

  it("names the publisher's trace on its retry line, and on no line of an event that writes none", async () => {
    const sent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const traced = (id: string): InboundMessage => ({
      ...message(VALID, id),
      trace: contextFromAttributes({ googclient_traceparent: sent }),
    });
    const err = new OrchestratorError('PUBLISH_FAILED', 'publishing: topic does not exist');
    const failing = fakes({ publisher: { publish: () => Promise.reject(err) } });
    await failing.handler.handle(traced('m1'));
    expect(failing.lines.find((l) => l['message'] === 'event will be retried')).toMatchObject({
      'logging.googleapis.com/spanId': 'b7ad6b7169203331',
      'logging.googleapis.com/trace_sampled': true,
    });
    const { handler, lines } = fakes();
    expect(await handler.handle(traced('m2'))).toBe('ack');
    expect(lines).toEqual([]);
  });

  it('passes the transport and the delivery attempt to the orchestrator, for its outcome line', async () => {
    const receipts: Receipt[] = [];
    const { handler } = fakes({
      orchestrator: {
        process: (_event, receipt) => {
          receipts.push(receipt);
          return Promise.resolve(RESULT);
        },
      },
    });
    await handler.handle({ ...message(VALID), transport: 'push', deliveryAttempt: 2 });
    expect(receipts[0]).toMatchObject({ sourceMessageId: 'm1', transport: 'push', deliveryAttempt: 2 });
  });

  it('nacks with an ERROR and the stack on an unexpected failure, so nothing is lost', async () => {
    const { handler, lines } = fakes({
      orchestrator: { process: () => Promise.reject(new TypeError('a bug')) },
    });
    expect(await handler.handle(message(VALID))).toBe('nack');
    expect(lines).toContainEqual(
      expect.objectContaining({
        severity: 'ERROR',
        stack_trace: expect.stringContaining('TypeError: a bug') as string,
      }),
    );
  });

  it('drains: waits for what is in flight, and nacks at once what arrives meanwhile', async () => {
    const held = heldOrchestrator();
    const { handler, published } = fakes({ orchestrator: held.orchestrator });
    const first = handler.handle(message(VALID, 'first'));
    expect(handler.inFlight()).toBe(1);
    const drained = handler.drain(5_000);
    expect(await handler.handle(message(VALID, 'late'))).toBe('nack');
    held.release();
    expect(await first).toBe('ack');
    expect(await drained).toBe(0);
    expect(published).toEqual(['first']);
  });

  it('abandons what is still in flight at the drain deadline: nacked, never published', async () => {
    const held = heldOrchestrator();
    const { handler, published } = fakes({ orchestrator: held.orchestrator });
    const verdict = handler.handle(message(VALID, 'slow'));
    expect(await handler.drain(50)).toBe(1);
    expect(await verdict).toBe('nack');
    held.release();
    expect(published).toEqual([]);
    expect(handler.inFlight()).toBe(0);
  });

  it('with a ledger, acks a redelivery of a published event without publishing again, and logs it once', async () => {
    const { handler, published, lines } = fakes({ ledger: createMemoryLedger() });
    expect(await handler.handle(message(VALID, 'm1'))).toBe('ack');
    expect(await handler.handle(message(VALID, 'm1'))).toBe('ack');
    expect(published).toEqual(['m1']);
    expect(
      lines.filter((l) => l['message'] === 'already published; acked without publishing again'),
    ).toHaveLength(1);
  });

  it('with a ledger, dead-letters a poison message once, however often and by whichever path it comes', async () => {
    const ledger = createMemoryLedger();
    const pulled = fakes({ ledger });
    const pushed = fakes({ ledger });
    // Pulled and pushed at once, as `dev --transport both` delivers it, then redelivered.
    const verdicts = await Promise.all([
      pulled.handler.handle(message('not json {', 'm9')),
      pushed.handler.handle({ ...message('not json {', 'm9'), transport: 'push' }),
    ]);
    expect(verdicts.sort()).toEqual(['ack', 'nack']);
    expect(await pushed.handler.handle({ ...message('not json {', 'm9'), transport: 'push' })).toBe('ack');
    expect(await pulled.handler.handle(message('not json {', 'm9'))).toBe('ack');
    expect([...pulled.deadLettered, ...pushed.deadLettered]).toEqual([
      ['m9', expect.stringMatching(/^not JSON/)],
    ]);
    const already = [...pulled.lines, ...pushed.lines].filter(
      (l) => l['message'] === 'poison message dead-lettered already; acked without forwarding it again',
    );
    expect(already).toHaveLength(2);
    // Another message with the same data is another message.
    expect(await pulled.handler.handle(message('not json {', 'm10'))).toBe('ack');
    expect(pulled.deadLettered.map(([id]) => id)).toEqual(expect.arrayContaining(['m10']));
  });

  it('with a ledger, forwards a poison message again after a delivery whose forward failed', async () => {
    const ledger = createMemoryLedger();
    const failing = fakes({
      ledger,
      deadLetter: () => Promise.reject(new OrchestratorError('DEAD_LETTER_FAILED', 'topic gone')),
    });
    expect(await failing.handler.handle(message('nope', 'm1'))).toBe('nack');
    const working = fakes({ ledger });
    expect(await working.handler.handle(message('nope', 'm1'))).toBe('ack');
    expect(working.deadLettered.map(([id]) => id)).toEqual(['m1']);
  });

  it('without a ledger, dead-letters every delivery of a poison message (LEDGER=none)', async () => {
    const { handler, deadLettered } = fakes();
    await handler.handle(message('nope', 'm1'));
    await handler.handle(message('nope', 'm1'));
    expect(deadLettered.map(([id]) => id)).toEqual(['m1', 'm1']);
  });

  it('with a ledger, keys an execution by data.event_id: another message of the same event is not published again', async () => {
    const withId = JSON.stringify({
      event: 'underwriting.created',
      data: { underwriting_id: 'uw_1', documents: ['doc_1'], event_id: 'e1' },
    });
    const { handler, published } = fakes({ ledger: createMemoryLedger() });
    expect(await handler.handle(message(withId, 'm1'))).toBe('ack');
    expect(await handler.handle(message(withId, 'm2'))).toBe('ack');
    expect(published).toEqual(['m1']);
  });

  it('with a ledger, nacks a duplicate in flight as IN_PROGRESS_ELSEWHERE and reuses what a failed delivery recorded', async () => {
    const held = heldOrchestrator();
    const ledger = createMemoryLedger();
    const first = fakes({ ledger, orchestrator: held.orchestrator });
    const running = first.handler.handle(message(VALID, 'm1'));
    const duplicate = fakes({ ledger });
    expect(await duplicate.handler.handle(message(VALID, 'm1'))).toBe('nack');
    expect(duplicate.lines).toContainEqual(
      expect.objectContaining({ code: 'IN_PROGRESS_ELSEWHERE', verdict: 'nack' }),
    );
    held.release();
    expect(await running).toBe('ack');
    expect(await duplicate.handler.handle(message(VALID, 'm1'))).toBe('ack');
    expect([...first.published, ...duplicate.published]).toEqual(['m1']);
  });

  it('with a ledger, hands the recorded outcomes of a delivery that failed to the redelivery', async () => {
    const ledger = createMemoryLedger();
    const entry: RunOutcome = {
      status: 'completed',
      processor_id: 'p',
      execution_id: '01J0000000000000000000000A',
      execution_time: 1,
      attempts: 1,
      factors: {},
    };
    const receipts: Receipt[] = [];
    const orchestrator = {
      process: (_event: unknown, receipt: Receipt) => {
        receipts.push(receipt);
        receipt.onOutcome?.(entry, { reused: false, queueWait: 0 });
        return Promise.resolve(RESULT);
      },
    };
    const failing = fakes({
      ledger,
      orchestrator,
      publisher: { publish: () => Promise.reject(new OrchestratorError('PUBLISH_FAILED', 'topic gone')) },
    });
    expect(await failing.handler.handle(message(VALID, 'm1'))).toBe('nack');
    const working = fakes({ ledger, orchestrator });
    expect(await working.handler.handle(message(VALID, 'm1'))).toBe('ack');
    expect(receipts[1]?.recorded?.get('p')).toEqual(entry);
  });

  it("runs a re-run request with the earlier execution's other outcomes, and publishes it with rerun_of", async () => {
    const ledger = createMemoryLedger();
    const earlier = (status: 'completed' | 'failed', id: string): RunOutcome =>
      status === 'completed'
        ? {
            status,
            processor_id: id,
            execution_id: '01J0000000000000000000000A',
            execution_time: 1,
            attempts: 1,
            factors: {},
          }
        : {
            status,
            processor_id: id,
            execution_id: '01J0000000000000000000000B',
            execution_time: 1,
            attempts: 1,
            error_message: 'x',
          };
    const first = await ledger.begin({ key: 'k1', underwritingId: 'uw_1', sourceMessageId: 'k1' });
    if (first.state !== 'claimed') throw new Error('claim');
    first.claim.record(earlier('completed', 'kept'));
    first.claim.record(earlier('failed', 'flaky'));
    await first.claim.published({ ...RESULT, overall_status: 'partial_success' }, 'out-1');

    const receipts: Receipt[] = [];
    const results: ProcessingCompleted[] = [];
    const run = fakes({
      ledger,
      orchestrator: {
        process: (_event: unknown, receipt: Receipt) => {
          receipts.push(receipt);
          return Promise.resolve(RESULT);
        },
      },
      publisher: {
        publish: (result) => {
          results.push(result);
          return Promise.resolve('out-2');
        },
      },
    });
    const request = JSON.stringify({
      event: 'underwriting.created',
      data: {
        underwriting_id: 'uw_1',
        documents: ['doc_1'],
        purchased_processors: ['kept', 'flaky'],
        event_id: 'k2',
        rerun: { of: 'k1', processors: ['flaky'], requested_by: 'bob@example.com', reason: 'fixed' },
      },
    });
    expect(await run.handler.handle(message(request, 'm2'))).toBe('ack');
    expect([...(receipts[0]?.reuse?.keys() ?? [])]).toEqual(['kept']);
    expect(results[0]?.rerun_of).toBe('k1');
    const [latest] = (await ledger.history?.underwriting('uw_1', 10)) ?? [];
    expect(latest).toMatchObject({
      key: 'k2',
      publishedMessageId: 'out-2',
      rerun: { of: 'k1', processors: ['flaky'], requested_by: 'bob@example.com', reason: 'fixed' },
    });
    // Delivered again: the same execution, already published.
    expect(await run.handler.handle(message(request, 'm2'))).toBe('ack');
    expect(results).toHaveLength(1);
  });
});
