// Pushes at once, as Pub/Sub delivers to a Cloud Run service with a high --concurrency: every
// event POSTed to /pubsub/push together once the contender is ready; the time runs from the first
// POST until every event has been answered 2xx. A push refused with 429 or 503, or whose
// connection failed, is sent again as Pub/Sub would, after a backoff of its own (see
// PUSH_BACKOFF).
import { setTimeout as sleep } from 'node:timers/promises';

import { Agent, request } from 'undici';

import { PUSH_PATH } from '../../src/transport/push.js';
import { startContender, type Kind } from './contender.js';
import { PROJECT, contenderEnv, watchMemory, type CapacityContext, type MemoryUse } from './context.js';
import { openLane } from './lane.js';
import { SMALL_DOCUMENTS, underwritingCreated } from './workload.js';

/**
 * How a refused push is sent again. Pub/Sub answers a push endpoint's errors with its push
 * backoff (docs.cloud.google.com/pubsub/docs/push, "Push backoff": after negative
 * acknowledgements it holds deliveries back for 100 ms up to 60 s, growing while they go on) and
 * the subscription's retry policy (docs.cloud.google.com/pubsub/docs/subscription-retry-policy: by
 * default immediate redelivery; with exponential backoff, 10 s to 600 s by default). Each message
 * here waits 100 ms after its first refusal, doubling at each refusal after, up to 10 s: the push
 * backoff's start and growth, capped well under its 60 s so that the bench ends in bounded time.
 * Deterministic (no jitter), so the same refusals cost the same time in every run.
 */
export const PUSH_BACKOFF = { firstMs: 100, maxMs: 10_000 } as const;

export interface PushResult {
  events: number;
  /** First POST to the last 2xx, in ms; undefined when not all were answered 2xx in the time box. */
  wallMs: number | undefined;
  answered: number;
  /** Answers 429 or 503 (each counts), connection failures, and events refused at least once. */
  refusals: number;
  connectionErrors: number;
  refusedEvents: number;
  replied: number;
  allCompleted: number;
  duplicates: number;
  cpuMsPerEvent: number | undefined;
  memory: MemoryUse;
}

const envelope = (id: string, data: Buffer) =>
  JSON.stringify({
    message: { data: data.toString('base64'), messageId: id, publishTime: new Date().toISOString() },
    subscription: `projects/${PROJECT}/subscriptions/bench-capacity-push`,
  });

const REFUSED = new Set([429, 503]);

export interface Tally {
  refusals: number;
  connectionErrors: number;
  refusedEvents: number;
}

/** Delivers one push until it is answered 2xx or `deadline` passes; resolves with when, or undefined. */
export async function deliverPush(
  agent: Agent,
  url: string,
  body: string,
  deadline: number,
  tally: Tally,
): Promise<number | undefined> {
  let backoffMs: number = PUSH_BACKOFF.firstMs;
  for (let attempt = 1; ; attempt++) {
    let status: number | undefined;
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body,
      });
      await response.body.dump();
      status = response.statusCode;
    } catch {
      tally.connectionErrors++;
    }
    if (status !== undefined && status >= 200 && status < 300) return performance.now();
    if (status !== undefined && !REFUSED.has(status))
      throw new Error(`bench: a push was answered ${status}, which Pub/Sub would not retry`);
    tally.refusals++;
    if (attempt === 1) tally.refusedEvents++;
    if (performance.now() + backoffMs > deadline) return undefined;
    await sleep(backoffMs);
    backoffMs = Math.min(backoffMs * 2, PUSH_BACKOFF.maxMs);
  }
}

let runs = 0;

export async function pushBurst(
  context: CapacityContext,
  kind: Kind,
  events: number,
  timeBoxMs: number,
): Promise<PushResult> {
  const run = ++runs;
  const lane = await openLane(context.pubsub, `push-${kind}`);
  const memory = watchMemory(context.cgroup);
  const contender = await startContender(
    kind,
    `${kind} (${events} pushes)`,
    contenderEnv(context, { completedTopic: lane.outTopic }),
    context.cgroup,
  );
  // Pub/Sub opens as many connections as it has pushes outstanding.
  const agent = new Agent({ connections: null, headersTimeout: timeBoxMs, bodyTimeout: timeBoxMs });
  try {
    await contender.ready(30_000);
    const url = `http://127.0.0.1:${contender.port}${PUSH_PATH}`;
    const bodies = Array.from({ length: events }, (_, i) =>
      envelope(`cap-push-${run}-${i}`, underwritingCreated(`uw_cap_push_${run}_${i}`, SMALL_DOCUMENTS)),
    );
    const tally: Tally = { refusals: 0, connectionErrors: 0, refusedEvents: 0 };
    const cpuFrom = contender.cpuMs();
    const started = performance.now();
    const deadline = started + timeBoxMs;
    const answers = await contender.unlessExited(
      Promise.all(bodies.map((body) => deliverPush(agent, url, body, deadline, tally))),
    );
    const answered = answers.filter((at) => at !== undefined);
    const cpuTo = contender.cpuMs();
    // Each 2xx came after its publish: the replies are on their way.
    await contender.unlessExited(lane.replies.until(answered.length, 30_000));
    const replies = [...lane.replies.byId.values()];
    return {
      events,
      wallMs: answered.length === events ? Math.max(...answered) - started : undefined,
      answered: answered.length,
      ...tally,
      replied: replies.length,
      allCompleted: replies.filter((r) => r.total > 0 && r.completed === r.total).length,
      duplicates: lane.replies.duplicates(),
      cpuMsPerEvent:
        cpuFrom === undefined || cpuTo === undefined
          ? undefined
          : (cpuTo - cpuFrom) / Math.max(1, answered.length),
      memory: memory.read(),
    };
  } finally {
    await contender.stop();
    await agent.destroy();
    await lane.delete();
  }
}
