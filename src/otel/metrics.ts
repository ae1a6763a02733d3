// The metrics: instruments made once per instrument() handle, fed by task and event messages and by
// one batch callback that reads every live client's stats() at collection.
//
// Per task, only the time in queue is recorded as it happens (a histogram has no observable form). The
// counters of ended tasks, retries and cost are observed at collection from counts the client keeps
// anyway (stats()) or that a task's end adds to: each synchronous recording makes the SDK hash its
// attributes, which for a short task costs more than scheduling it.
import { type BatchObservableCallback, type BatchObservableResult, type Meter, type Observable, ValueType } from '@opentelemetry/api';
import type { ObservedClient, RefusalMessage, TaskMessage } from '../core/diagnostics.js';
import type { ClientStats } from '../core/options.js';
import type { ClientEntry, ClientRegistry } from './clients.js';
import { ATTR, METRIC } from './names.js';

/**
 * Seconds a task waited, from a start in the same turn to a minute behind a full window: a queue wait
 * spans more decades than a request's duration does (the SDK's default buckets stop at 10 s and lump
 * everything under 5 ms together).
 */
export const TIME_IN_QUEUE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A task's outcomes, each a counter of `stats()` of the same name. */
const OUTCOMES = ['completed', 'failed', 'aborted', 'dropped'] as const;

/** The currency every task costs: its weight. */
const REQUESTS = 'requests';

export interface Metrics {
  taskStart(message: TaskMessage, entry: ClientEntry): void;
  taskEnd(message: TaskMessage, entry: ClientEntry): void;
  refusal(message: RefusalMessage, entry: ClientEntry): void;
  /** Removes the batch callback: the SDK no longer calls into this handle. */
  stop(): void;
}

/** What a window counts: `counts` when the stats say it (currencies), else requests. */
function windowCounts(window: object): string {
  const counts = (window as { counts?: unknown }).counts;
  return typeof counts === 'string' ? counts : REQUESTS;
}

export function createMetrics(meter: Meter, registry: ClientRegistry): Metrics {
  const queueSize = meter.createObservableUpDownCounter(METRIC.queueSize, {
    description: 'Tasks waiting to start: in the queue, and outside a full queue (overflow: block).',
    unit: '{task}',
    valueType: ValueType.INT,
  });
  const queueCapacity = meter.createObservableUpDownCounter(METRIC.queueCapacity, {
    description: 'The most tasks the queue holds (queue.maxSize); not reported for an unbounded queue.',
    unit: '{task}',
    valueType: ValueType.INT,
  });
  const activeRequests = meter.createObservableUpDownCounter(METRIC.activeRequests, {
    description: 'Tasks running (in flight).',
    unit: '{request}',
    valueType: ValueType.INT,
  });
  const windowUsage = meter.createObservableGauge(METRIC.windowUsage, {
    description: 'Used over limit of each rate window (over burst for a bucket), from 0 to 1.',
    unit: '1',
  });
  const timeInQueue = meter.createHistogram(METRIC.timeInQueue, {
    description: 'Time a task waited in the queue, from enqueue to start.',
    unit: 's',
    advice: { explicitBucketBoundaries: TIME_IN_QUEUE_BUCKETS },
  });
  const requests = meter.createObservableCounter(METRIC.requests, {
    description: 'Tasks ended, by outcome (completed, failed, aborted, dropped).',
    unit: '{request}',
    valueType: ValueType.INT,
  });
  const retries = meter.createObservableCounter(METRIC.retries, {
    description: 'Retries scheduled.',
    unit: '{retry}',
    valueType: ValueType.INT,
  });
  const cost = meter.createObservableCounter(METRIC.cost, {
    description:
      "Units of each currency spent by tasks that started: requests (each task's weight) and the currencies of their cost, as settled by the task's end.",
    unit: '{unit}',
  });
  const serverRefusals = meter.createCounter(METRIC.serverRefusals, {
    description: 'Responses refused for rate (429, 503) that reached a client.',
    unit: '{response}',
    valueType: ValueType.INT,
  });

  const observables: Observable[] = [queueSize, queueCapacity, activeRequests, windowUsage, requests, retries, cost];
  /** The counters; counts since the client was made (a cumulative counter starts where its source does). */
  const observeCounters = (result: BatchObservableResult, stats: ClientStats, entry: ClientEntry) => {
    // An outcome appears once a task has had it, as a counter incremented then would.
    for (const outcome of OUTCOMES) {
      if (stats[outcome] > 0) result.observe(requests, stats[outcome], entry.with(ATTR.outcome, outcome));
    }
    if (stats.retried > 0) result.observe(retries, stats.retried, entry.attributes);
    for (const [currency, spent] of entry.spent) result.observe(cost, spent, entry.with(ATTR.currency, currency));
  };
  const observe: BatchObservableCallback = (result) => {
    registry.forEach((client: ObservedClient, entry) => {
      const stats = client.stats();
      const attributes = entry.attributes;
      result.observe(queueSize, stats.queued + stats.blocked, attributes);
      if (stats.queueMaxSize !== Infinity) result.observe(queueCapacity, stats.queueMaxSize, attributes);
      result.observe(activeRequests, stats.inFlight, attributes);
      observeCounters(result, stats, entry);
      for (const window of stats.windows) {
        // A bucket is full at its burst: its share used is what is missing of it.
        result.observe(windowUsage, window.used / (window.burst ?? window.limit), {
          ...attributes,
          [ATTR.windowCounts]: windowCounts(window),
          [ATTR.windowMs]: window.windowMs,
        });
      }
    });
    // A client closed since the last collection: its gauges are gone, its counters' last values are not.
    registry.takeClosed((entry, stats) => observeCounters(result, stats, entry));
  };
  meter.addBatchObservableCallback(observe, observables);

  return {
    taskStart(message, entry) {
      if (message.startedAt === undefined) return;
      timeInQueue.record((message.startedAt - message.enqueuedAt) / 1000, entry.attributes);
    },
    taskEnd(message, entry) {
      if (message.startedAt !== undefined) {
        entry.spend(REQUESTS, message.weight);
        const cost = message.cost;
        if (cost !== null) for (const currency in cost) entry.spend(currency, cost[currency] as number);
      }
    },
    refusal(message, entry) {
      serverRefusals.add(1, entry.with(ATTR.httpStatus, message.status));
    },
    stop() {
      meter.removeBatchObservableCallback(observe, observables);
    },
  };
}
