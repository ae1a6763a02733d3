/**
 * Each library under test, set up to do the same job: run async tasks at a given concurrency and, for
 * the window figures, under `limit` starts per `windowMs`. Only the benchmark depends on the peers.
 *
 * Priorities: ours and Bottleneck run lower numbers first; p-queue runs higher numbers first, so it gets
 * the negated priority. p-limit has no priorities.
 */
import Bottleneck from 'bottleneck';
import { RateLimiter } from 'limiter';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import pThrottle from 'p-throttle';
import { RateLimitedClient } from '../src/index.js';
import type { Limit } from './lib/windows.js';

export type Task = () => Promise<void>;

/** A queue of tasks: `add` resolves when its task has run. */
export interface Runner {
  add(task: Task, priority: number): Promise<unknown>;
  /** Tasks waiting to start. */
  queued(): number;
  /** Lets go of timers, so the process can exit. */
  stop(): Promise<void>;
}

export interface QueueContender {
  name: string;
  priorities: boolean;
  /** Builds a runner; `paused` ones start nothing until `start()`. */
  create(concurrency: number, paused?: boolean): Runner & { start(): void };
}

export const OURS = 'rate-limited-client';

export const QUEUES: QueueContender[] = [
  {
    name: OURS,
    priorities: true,
    create(concurrency, paused = false) {
      const client = new RateLimitedClient({ concurrency });
      if (paused) client.pause();
      return {
        add: (task, priority) => client.schedule(task, { priority }),
        queued: () => client.stats().queued,
        start: () => client.resume(),
        stop: () => client.close(),
      };
    },
  },
  {
    name: 'p-queue',
    priorities: true,
    create(concurrency, paused = false) {
      const queue = new PQueue({ concurrency, autoStart: !paused });
      return {
        add: (task, priority) => queue.add(task, { priority: -priority }),
        queued: () => queue.size,
        start: () => void queue.start(),
        stop: async () => queue.clear(),
      };
    },
  },
  {
    name: 'p-limit',
    priorities: false,
    create(concurrency) {
      const limit = pLimit(concurrency);
      return { add: (task) => limit(task), queued: () => limit.pendingCount, start: () => {}, stop: async () => limit.clearQueue() };
    },
  },
  {
    name: 'bottleneck',
    priorities: true,
    create(concurrency) {
      const limiter = new Bottleneck({ maxConcurrent: concurrency });
      return {
        // Bottleneck has priorities 0..9 (default 5).
        add: (task, priority) => limiter.schedule({ priority: Math.min(9, priority) }, task),
        queued: () => limiter.counts().QUEUED,
        start: () => {},
        stop: () => limiter.stop({ dropWaitingJobs: true }),
      };
    },
  },
];

const noop: Task = async () => {};

/**
 * Submits `tasks` no-op tasks to `runner` at once (priority i % levels; `sorted`: the first tasks/levels
 * at priority 0, the next at 1, and so on, so they run in the order they were submitted), starts it (a
 * paused runner holds them all until then), and resolves with the start and end of the timed part
 * (performance.now()).
 */
export async function runNoops(
  runner: Runner & { start(): void },
  tasks: number,
  levels: number,
  sorted = false,
): Promise<{ begin: number; end: number }> {
  const all = new Array<Promise<unknown>>(tasks);
  const perLevel = Math.ceil(tasks / levels);
  const begin = performance.now();
  for (let i = 0; i < tasks; i++) all[i] = runner.add(noop, levels === 1 ? 0 : sorted ? Math.floor(i / perLevel) : i % levels);
  runner.start();
  await Promise.all(all);
  return { begin, end: performance.now() };
}

/** Wraps every task so it starts only when `gate` lets it. */
export type Gate = (task: Task) => Promise<void>;

export interface WindowContender {
  name: string;
  /** Builds a gate for these limits; null when the library can not express them. */
  create(limits: readonly Limit[], concurrency: number): { gate: Gate; stop(): Promise<void> } | null;
  /** What this setup is, in a few words, for the table. */
  how: string;
  /** False for a library with no concurrency cap: its ideal schedule may start more than `concurrency` at once. */
  capsConcurrency: boolean;
}

const single = (limits: readonly Limit[]): Limit | null => (limits.length === 1 ? (limits[0] as Limit) : null);

/**
 * The longest window first: where a library checks windows one after another, a task that took the
 * short window's token and then waits for the long one holds it, and the waiters all start together
 * when the long window frees (measured: 80 over with limiter's buckets the other way round).
 */
const longestFirst = (limits: readonly Limit[]): Limit[] => [...limits].sort((a, b) => b.windowMs - a.windowMs);

export const WINDOW_KEEPERS: WindowContender[] = [
  {
    name: OURS,
    how: 'sliding window log',
    capsConcurrency: true,
    create(limits, concurrency) {
      const client = new RateLimitedClient({ concurrency, rateLimit: limits.map((each) => ({ ...each })) });
      return { gate: (task) => client.schedule(task), stop: () => client.close() };
    },
  },
  {
    name: 'p-queue',
    how: 'intervalCap per interval',
    capsConcurrency: true,
    create(limits, concurrency) {
      return intervalQueue(limits, concurrency, false);
    },
  },
  {
    name: 'p-queue strict',
    how: 'intervalCap, strict: true',
    capsConcurrency: true,
    create(limits, concurrency) {
      return intervalQueue(limits, concurrency, true);
    },
  },
  {
    name: 'p-throttle',
    how: 'limit per interval, nested for two windows',
    capsConcurrency: false,
    create(limits) {
      return throttled(limits, false);
    },
  },
  {
    name: 'p-throttle strict',
    how: 'strict: true, nested for two windows',
    capsConcurrency: false,
    create(limits) {
      return throttled(limits, true);
    },
  },
  {
    name: 'bottleneck reservoir',
    how: 'reservoir refreshed every window, chained for two',
    capsConcurrency: true,
    create(limits, concurrency) {
      const limiters = longestFirst(limits).map(
        ({ limit, windowMs }) =>
          // The assertion is needed (the rule misses excess-property checks): heartbeatInterval is unlisted.
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
          new Bottleneck({
            maxConcurrent: concurrency,
            reservoir: limit,
            reservoirRefreshAmount: limit,
            reservoirRefreshInterval: windowMs,
            // Bottleneck looks at its reservoir on a heartbeat, every 250 ms by default: a 100 ms refresh
            // would then come every 250 ms. Its typings do not list the option.
            heartbeatInterval: Math.min(10, windowMs),
          } as Bottleneck.ConstructorOptions),
      );
      for (let index = 0; index + 1 < limiters.length; index++) (limiters[index] as Bottleneck).chain(limiters[index + 1]);
      const first = limiters[0] as Bottleneck;
      return {
        gate: (task) => first.schedule(task),
        stop: async () => {
          await Promise.all(limiters.map((each) => each.stop({ dropWaitingJobs: true })));
        },
      };
    },
  },
  {
    name: 'bottleneck minTime',
    how: 'minTime = windowMs / limit',
    capsConcurrency: true,
    create(limits, concurrency) {
      const minTime = Math.max(...limits.map(({ limit, windowMs }) => windowMs / limit));
      const limiter = new Bottleneck({ maxConcurrent: concurrency, minTime });
      return { gate: (task) => limiter.schedule(task), stop: () => limiter.stop({ dropWaitingJobs: true }) };
    },
  },
  {
    name: 'limiter',
    how: 'token bucket per window, removeTokens(1) each',
    capsConcurrency: false,
    create(limits) {
      const buckets = longestFirst(limits).map(({ limit, windowMs }) => new RateLimiter({ tokensPerInterval: limit, interval: windowMs }));
      return {
        gate: async (task) => {
          for (const bucket of buckets) await bucket.removeTokens(1);
          await task();
        },
        stop: async () => {},
      };
    },
  },
];

/** p-queue has one interval per queue: null for two windows. */
function intervalQueue(limits: readonly Limit[], concurrency: number, strict: boolean): { gate: Gate; stop(): Promise<void> } | null {
  const limit = single(limits);
  if (limit === null) return null;
  const queue = new PQueue({ concurrency, intervalCap: limit.limit, interval: limit.windowMs, strict });
  return { gate: (task) => queue.add(task), stop: async () => queue.clear() };
}

/**
 * p-throttle has no concurrency option, so it may start a whole window's worth at once (its ideal is
 * reckoned without the cap). The outermost throttle, checked first, is the longest window's.
 */
function throttled(limits: readonly Limit[], strict: boolean): { gate: Gate; stop(): Promise<void> } {
  const throttles = longestFirst(limits)
    .reverse()
    .map(({ limit, windowMs }) => pThrottle({ limit, interval: windowMs, strict }));
  let gate: Gate = (task) => task();
  for (const throttle of throttles) gate = throttle(gate);
  return { gate, stop: async () => {} };
}
