import type { Attributes, Counter, Meter, MetricOptions } from '@opentelemetry/api';

/**
 * Histogram buckets in seconds, from a 5 ms document fetch to a 10-minute processor run: the
 * SDK's default buckets stop at 10 000, made for milliseconds.
 */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180, 300, 600];

/**
 * Every metric the service records, with the names dashboards and alerts use (docs/telemetry.md
 * has the table; a test keeps it equal to these). Created from a no-op meter when nothing is
 * exported, so recording costs a call and nothing more; when exported, counters are tallies.
 */
export function createMetrics(meter: Meter, exported = false) {
  const seconds = (name: string, description: string) =>
    meter.createHistogram(name, {
      description,
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
  const counter = (name: string, options: MetricOptions) =>
    exported ? tally(meter, name, options) : meter.createCounter(name, options);
  return {
    /** attributes `processor.id`, `processor.status` */
    runDuration: seconds(
      'processor.run.duration',
      'Run time of a processor run, every attempt, queue excluded',
    ),
    /** attribute `processor.id` */
    queueDuration: seconds('processor.queue.duration', 'Time a processor run waited to start, every attempt'),
    /** attributes `processor.id`, `processor.status` */
    attempts: counter('processor.attempts', {
      description: 'Attempts of processor runs (a retried or restarted run counts each)',
      unit: '{attempt}',
    }),
    /** attributes `overall_status`, `transport` */
    processed: counter('underwriting.processed', {
      description: 'Events whose processing.completed was published',
      unit: '{event}',
    }),
    /** attributes `messaging.system`, `messaging.operation.name`, `transport`, `error.type` on a nack */
    processDuration: seconds('messaging.process.duration', 'Time to handle one message, receipt to verdict'),
    /** attribute `error.type` */
    deadLettered: counter('underwriting.dead_lettered', {
      description: 'Poison messages forwarded to the dead-letter topic (or logged without one)',
      unit: '{message}',
    }),
    /** attribute `error.type` when the fetch failed */
    fetchDuration: seconds('documents.fetch.duration', "Time to fetch one event's documents"),
    fetchRetries: counter('documents.fetch.retries', {
      description: 'Document requests tried again (network error, timeout, 5xx, 429)',
      unit: '{request}',
    }),
    /** attribute `admission.reason` (`memory`, `cpu`, `threads`, `concurrency`, `event-loop`) */
    admissionRefused: counter('admission.refused', {
      description: 'Pushes answered 429 at once because the instance was full (Pub/Sub delivers them again)',
      unit: '{message}',
    }),
    /** attribute `processor.id` */
    reusedRuns: counter('ledger.reused_runs', {
      description:
        'Runs taken from the execution ledger instead of run: COMPLETED ones on a redelivery, and those a re-run did not ask for',
      unit: '{run}',
    }),
    /** attributes `processor.id`, `error.code` (`PROCESSOR_PAUSED`, `PROCESSOR_CIRCUIT_OPEN`) */
    skippedRuns: counter('processor.skipped', {
      description: 'Runs not called: the processor was paused by an operator, or its circuit was open',
      unit: '{run}',
    }),
    /** attributes `processor.id`, `circuit.state` (the state entered: `open`, `half_open`, `closed`) */
    circuitTransitions: counter('processor.circuit.transitions', {
      description: "Changes of a processor's circuit breaker state on this instance",
      unit: '{transition}',
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** One sum of a tally, with the attributes it is exported with. */
interface Sum {
  attributes: Attributes;
  sum: number;
}

/**
 * A counter whose sums are kept here and read at each collection through an observable counter,
 * which exports the same monotonic sum (cumulative, or delta when the exporter asks). Adding is a
 * lookup by the attributes' names and values in the order given; the SDK's own counter sorts,
 * copies and serializes them on every add, and counters are added to four times an event. Each
 * new order of names is matched once to its set of attributes, so two orders share one sum.
 */
function tally(meter: Meter, name: string, options: MetricOptions): Pick<Counter, 'add'> {
  /** By the set of attributes (names sorted), and by each order of names seen. */
  const sums = new Map<string, Sum>();
  const byOrder = new Map<string, Sum>();
  meter.createObservableCounter(name, options).addCallback((result) => {
    for (const { attributes, sum } of sums.values()) result.observe(sum, attributes);
  });
  return {
    add(value, attributes = {}) {
      if (!(value >= 0)) return; // as the SDK's counter: a negative (or NaN) increment is dropped
      let key = '';
      for (const k in attributes) key += `${k}\u0000${String(attributes[k])}\u0001`;
      let entry = byOrder.get(key);
      if (!entry) {
        const set = JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)));
        entry = sums.get(set) ?? { attributes: { ...attributes }, sum: 0 };
        sums.set(set, entry);
        byOrder.set(key, entry);
      }
      entry.sum += value;
    },
  };
}

/** What the pool's gauges read at each collection. */
export interface PoolGauges {
  threads: number;
  busyThreads: number;
  /** Share of the CPU slots held by runs that compute (0–1; above 1 when oversubscribed). */
  cpuSaturation: number;
}

/** `pool.threads`, `pool.threads.busy` and `pool.cpu.saturation`, read from the pool when collected. */
export function observePool(meter: Meter, read: () => PoolGauges): void {
  const threads = meter.createObservableGauge('pool.threads', {
    description: 'Worker threads in the pool',
    unit: '{thread}',
  });
  const busy = meter.createObservableGauge('pool.threads.busy', {
    description: 'Worker threads hosting at least one run',
    unit: '{thread}',
  });
  const saturation = meter.createObservableGauge('pool.cpu.saturation', {
    description: "CPU slots held by computing runs, as a share of the scheduler's slots (the cores)",
    unit: '1',
  });
  meter.addBatchObservableCallback(
    (result) => {
      const now = read();
      result.observe(threads, now.threads);
      result.observe(busy, now.busyThreads);
      result.observe(saturation, now.cpuSaturation);
    },
    [threads, busy, saturation],
  );
}
