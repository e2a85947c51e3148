// Every row of `npm run bench`, named by what it measures. The letter codes are the aliases that
// docs/benchmarks.md, the issues and the notes of past runs quote; the table prints them after the
// name, `[d]`. A row's sizes and rounds are its run's detail (see `row` in table.ts).
import type { Measure } from './table.js';

export const MEASURES = {
  // pool
  poolThroughput: { name: 'orchestration throughput vs raw Piscina', alias: 'a' },
  workerPerRun: { name: 'orchestration throughput vs a new Worker per run', alias: 'b' },
  busyLoopLateness: { name: 'TIMEOUT lateness, busy-looping processor', alias: 'c' },
  busyLoopReplaced: { name: 'threads replaced at deadlines, busy-looping processor', alias: 'c' },
  signalLateness: { name: 'TIMEOUT lateness, processor honouring ctx.signal', alias: "c'" },
  signalReplaced: { name: 'threads replaced at deadlines, processor honouring ctx.signal', alias: "c'" },
  // scheduler
  waitingOneEvent: { name: 'scheduler, one event of waiting processors', alias: 'i' },
  waitingBurst: { name: 'scheduler, events of waiting processors at once', alias: 'i' },
  waitingBurstRss: { name: 'scheduler, events of waiting processors at once: peak RSS', alias: 'i' },
  computingAll: { name: 'scheduler, computing runs vs the ideal', alias: 'j' },
  computingSlowest: { name: 'scheduler, slowest computing run vs its CPU time', alias: 'j' },
  waitingBesideComputing: { name: 'scheduler, a waiting event beside computing runs', alias: 'k' },
  // pubsub
  pullVsRelay: { name: 'pull throughput vs bare relay', alias: 'd' },
  latencyP50VsRelay: { name: 'publish -> reply latency p50 vs bare relay', alias: 'e' },
  latencyP99VsRelay: { name: 'publish -> reply latency p99 vs bare relay', alias: 'e' },
  steadyVsFloor: { name: 'steady-state throughput vs composite floor', alias: 'l' },
  cpuVsFloor: { name: 'CPU per event vs relay + fan-out', alias: "l'" },
  pullVsLibraryRelay: { name: "pull throughput vs relay on the client library's defaults", alias: "d'" },
  // push
  pushAuthThroughput: { name: 'push token verification cost, throughput', alias: 'f' },
  pushAuthLatency: { name: 'push token verification cost, latency p50', alias: 'f' },
  // documents
  documentFetch: { name: 'document fetch vs ideal', alias: 'g' },
  // ledger
  memoryLedger: { name: 'memory ledger throughput vs none', alias: 'h' },
  memoryLedgerCost: { name: "memory ledger's own cost per event", alias: 'h' },
  firestoreLedger: { name: 'Firestore ledger throughput vs none', alias: "h'" },
  firestoreWrites: { name: 'Firestore writes per event', alias: "h''" },
  firestoreReads: { name: 'Firestore reads per event', alias: "h''" },
  // telemetry
  telemetryThroughput: { name: 'telemetry cost, throughput', alias: 't' },
  telemetryCpu: { name: "telemetry cost, serve's CPU per event", alias: "t''" },
  telemetryOffVsBaseline: { name: 'throughput vs the build at BENCH_BASELINE_CLI', alias: "t'" },
  // capacity
  memoryLimitSeen: { name: 'memory limit seen inside the cgroup' },
  backlogVsReference: { name: 'backlog through pull vs reference' },
  backlogCompletion: { name: 'backlog through pull, completed once' },
  backlogReady: { name: 'backlog through pull, start-up' },
  backlogMemory: { name: 'backlog through pull, peak memory' },
  backlogCpu: { name: 'backlog through pull, CPU per event' },
  pushesVsReference: { name: 'pushes at once vs reference' },
  pushesRefused: { name: 'pushes at once, refused' },
  pushesCompletion: { name: 'pushes at once, completed once' },
  pushesMemory: { name: 'pushes at once, peak memory' },
  pushesCpu: { name: 'pushes at once, CPU per event' },
  largeVsBacklog: { name: 'large documents through pull vs the backlog' },
  largeCompletion: { name: 'large documents through pull, completed once' },
  largeMemory: { name: 'large documents through pull, peak memory' },
  largeKilled: { name: 'large documents through pull, killed' },
  largeLimitHits: { name: 'large documents through pull, times at the limit' },
  cpuAllowedRate: { name: 'the rate the CPU allows' },
  steadyP99: { name: 'steady arrivals, latency p99' },
  steadyP50Max: { name: 'steady arrivals, latency p50 / max' },
  steadyCompletion: { name: 'steady arrivals, completed once' },
  steadyMemory: { name: 'steady arrivals, peak memory' },
  steadyNotRun: { name: 'steady arrivals, not run' },
  firstEventWaiting: { name: 'first event of a fresh process' },
  firstEventMixed: { name: 'first event of a fresh run, computing at once' },
  startup: { name: 'start-up of serve' },
  caseBroke: { name: 'capacity case broke' },
} as const satisfies Record<string, Measure>;
