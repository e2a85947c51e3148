// A backlog through pull: the events are published to a fresh subscription first, then the
// contender starts inside the cgroup; the time runs from its spawn to the last processing.completed
// the bench receives.
import { ContenderExited, startContender, type Contender, type Exit, type Kind } from './contender.js';
import {
  contenderEnv,
  sideCpu,
  watchMemory,
  type CapacityContext,
  type MemoryUse,
  type SideCpu,
} from './context.js';
import { openLane, type Replies } from './lane.js';
import { underwritingCreated } from './workload.js';

export interface DrainResult {
  events: number;
  /** Spawn to the last reply, in ms; undefined when not every event replied within the time box. */
  wallMs: number | undefined;
  /** Events that replied (once or more). */
  replied: number;
  /** Events whose reply says every processor COMPLETED. */
  allCompleted: number;
  /** Replies beyond one per event. */
  duplicates: number;
  /** Spawn to /readyz 200, in ms. */
  readyMs: number | undefined;
  /**
   * CPU time per event replied, in ms: the contender's every thread from its readiness to the last
   * reply; the emulator's and the bench's while the backlog was published and from the contender's
   * readiness on (its start-up, when no event moves, left out: the bench polls /readyz then).
   */
  cpuMsPerEvent: { contender: number | undefined; emulator: number | undefined; bench: number };
  memory: MemoryUse;
  /** How the contender ended when it ended on its own (killed, crashed); undefined when the bench stopped it. */
  diedOf: Exit | undefined;
}

interface Readiness {
  at: number;
  contenderMs: number | undefined;
  side: SideCpu;
}

interface Waited {
  all: boolean;
  diedOf: Exit | undefined;
  readiness: Readiness | undefined;
  contenderMs: number | undefined;
  side: SideCpu;
}

/** Waits for `events` replies (or the time box, or the contender's end), then stops it. */
async function untilDrained(
  context: CapacityContext,
  contender: Contender,
  replies: Replies,
  events: number,
  timeBoxMs: number,
): Promise<Waited> {
  const ready = contender.ready(timeBoxMs).then(
    (at): Readiness => ({ at, contenderMs: contender.cpuMs(), side: sideCpu(context) }),
    () => undefined,
  );
  try {
    const all = await contender.unlessExited(replies.until(events, timeBoxMs));
    return {
      all,
      diedOf: undefined,
      readiness: await ready,
      contenderMs: contender.cpuMs(),
      side: sideCpu(context),
    };
  } catch (err) {
    if (!(err instanceof ContenderExited)) throw err;
    return {
      all: false,
      diedOf: err.exit,
      readiness: await ready,
      contenderMs: undefined,
      side: sideCpu(context),
    };
  } finally {
    await contender.stop();
  }
}

let runs = 0;

export async function drainBacklog(
  context: CapacityContext,
  kind: Kind,
  events: number,
  documents: readonly string[],
  timeBoxMs: number,
): Promise<DrainResult> {
  const run = ++runs;
  const lane = await openLane(context.pubsub, `drain-${kind}`);
  try {
    const beforePublish = sideCpu(context);
    await lane.publish(
      Array.from({ length: events }, (_, i) => underwritingCreated(`uw_cap_${run}_${i}`, documents)),
    );
    const published = sideCpu(context);
    const memory = watchMemory(context.cgroup);
    const contender = await startContender(
      kind,
      `${kind} (backlog of ${events})`,
      contenderEnv(context, { completedTopic: lane.outTopic, subscription: lane.inSubscription }),
      context.cgroup,
    );
    const waited = await untilDrained(context, contender, lane.replies, events, timeBoxMs);
    const arrivals = [...lane.replies.byId.values()];
    const perEvent = (ms: number | undefined) =>
      ms === undefined ? undefined : ms / Math.max(1, arrivals.length);
    const { readiness, side } = waited;
    const sideMs = (pick: (s: SideCpu) => number | undefined) => {
      const [a, b, c, d] = [beforePublish, published, readiness?.side, side].map((s) =>
        s ? pick(s) : undefined,
      );
      return a === undefined || b === undefined || c === undefined || d === undefined
        ? undefined
        : b - a + (d - c);
    };
    return {
      events,
      wallMs: waited.all ? Math.max(...arrivals.map((r) => r.at)) - contender.spawnedAt : undefined,
      replied: arrivals.length,
      allCompleted: arrivals.filter((r) => r.total > 0 && r.completed === r.total).length,
      duplicates: lane.replies.duplicates(),
      readyMs: readiness === undefined ? undefined : readiness.at - contender.spawnedAt,
      cpuMsPerEvent: {
        contender: perEvent(
          readiness?.contenderMs === undefined || waited.contenderMs === undefined
            ? undefined
            : waited.contenderMs - readiness.contenderMs,
        ),
        emulator: perEvent(sideMs((s) => s.emulatorMs)),
        bench: perEvent(sideMs((s) => s.benchMs)) ?? 0,
      },
      memory: memory.read(),
      diedOf: waited.diedOf,
    };
  } finally {
    await lane.delete();
  }
}
