// What every case of the capacity bench shares: the emulator, the memory cgroup, the workload,
// and how a contender is configured.
import type { PubSub } from '@google-cloud/pubsub';

import { processGroupCpuMs } from '../cpu.js';
import type { MemoryCgroup } from './cgroup.js';
import type { Workload } from './workload.js';

export const PROJECT = 'bench-project';

export interface CapacityContext {
  host: string;
  pubsub: PubSub;
  cgroup: MemoryCgroup;
  workload: Workload;
  /** The emulator's process group, when the bench started it (its CPU shares the cores). */
  emulatorPid: number | undefined;
  progress: (message: string) => void;
}

/**
 * `serve`'s environment as the issue sets it (the reference reads the same variables): the
 * emulator, no push or ops authentication, the memory ledger, warnings only, no telemetry, and no
 * PULL_MAX_MESSAGES: its defaults decide.
 */
export function contenderEnv(
  context: CapacityContext,
  where: { completedTopic: string; subscription?: string; processorsDir?: string },
): Record<string, string> {
  return {
    GOOGLE_CLOUD_PROJECT: PROJECT,
    PUBSUB_EMULATOR_HOST: context.host,
    COMPLETED_TOPIC: where.completedTopic,
    ...(where.subscription !== undefined && { UNDERWRITING_SUBSCRIPTION: where.subscription }),
    DOCUMENTS_DIR: context.workload.documentsDir,
    PROCESSORS_DIR: where.processorsDir ?? context.workload.processorsDir,
    PUSH_AUTH: 'disabled',
    OPS_AUTH: 'disabled',
    LEDGER: 'memory',
    // BENCH_LOG_DIR keeps each contender's log lines (see contender.ts), at info.
    LOG_LEVEL: process.env['BENCH_LOG_DIR'] ? 'info' : 'warn',
    OTEL_SDK_DISABLED: 'true',
    ...context.workload.env,
    // BENCH_CONTENDER_NODE_OPTIONS: node options for the contenders (say, --cpu-prof).
    ...(process.env['BENCH_CONTENDER_NODE_OPTIONS'] && {
      NODE_OPTIONS: process.env['BENCH_CONTENDER_NODE_OPTIONS'],
    }),
  };
}

/** CPU time (ms) of what shares the cores with a contender: the emulator's and the bench's own. */
export interface SideCpu {
  emulatorMs: number | undefined;
  benchMs: number;
}

export function sideCpu(context: CapacityContext): SideCpu {
  const { user, system } = process.cpuUsage();
  return {
    emulatorMs: context.emulatorPid === undefined ? undefined : processGroupCpuMs(context.emulatorPid),
    benchMs: (user + system) / 1000,
  };
}

export interface MemoryUse {
  peakBytes: number;
  oomKills: number;
  limitHits: number;
}

/** Starts the cgroup's peak over; `read` says what happened since. */
export function watchMemory(cgroup: MemoryCgroup): { read(): MemoryUse } {
  cgroup.resetPeak();
  const [oomKills, limitHits] = [cgroup.oomKills(), cgroup.limitHits()];
  return {
    read: () => ({
      peakBytes: cgroup.peakBytes(),
      oomKills: cgroup.oomKills() - oomKills,
      limitHits: cgroup.limitHits() - limitHits,
    }),
  };
}
