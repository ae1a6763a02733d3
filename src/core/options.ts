// The scheduling options and what a client reports: queue, windows, task context, schedule options, stats.
import type { Clock } from './clock.js';
import type { Cost } from './cost.js';
import type { RateWindow, WindowUsage } from './rate-window.js';
import type { LimiterStore } from './store.js';

export type { RateWindow, WindowUsage } from './rate-window.js';

/**
 * What happens when a task arrives at a full queue.
 * - `'block'`: the task waits outside the queue until there is room (its promise simply settles later).
 * - `'reject'`: the new task's promise rejects with `QueueFullError`.
 * - `'drop-oldest'`: the task that has waited longest is dropped to make room.
 * - `'drop-lowest-priority'`: the task that would run last (highest `priority` number, newest among
 *   equals) is dropped; that may be the new task itself.
 */
export type OverflowStrategy = 'block' | 'reject' | 'drop-oldest' | 'drop-lowest-priority';

/**
 * The `queue` option: how many tasks may wait, and what a full queue does with one more.
 * @example { maxSize: 1_000, overflow: 'reject' }
 */
export interface QueueOptions {
  /**
   * Most tasks waiting in the queue (not counting those running).
   * @default Infinity
   */
  maxSize?: number | undefined;
  /**
   * What to do with a task that arrives when the queue holds `maxSize` tasks.
   * @default 'block'
   */
  overflow?: OverflowStrategy | undefined;
}

/** The options of the scheduling part of a client: its queue, pool, semaphore and windows. */
export interface SchedulerOptions {
  /**
   * A name for this client, shown in `stats()`, in the diagnostics channels' messages and on every
   * OpenTelemetry metric and span (`rate_limited_client.name`). A non-empty string.
   * @default none
   * @example 'github'
   */
  name?: string | undefined;
  /**
   * Semaphore size: the most units of weight in flight at once.
   * @default 10
   */
  concurrency?: number | undefined;
  /**
   * Size of the fixed worker pool that drains the queue. Each running task occupies one worker.
   * @default the value of `concurrency` (and it follows `setConcurrency()` when not given)
   */
  workers?: number | undefined;
  /**
   * One sliding window or several; every window is enforced at once. Omit for no rate limit.
   * @example [{ limit: 100, windowMs: 1_000 }, { limit: 5_000, windowMs: 3_600_000 }]
   */
  rateLimit?: RateWindow | readonly RateWindow[] | undefined;
  /** Bound the queue and choose what happens when it is full. */
  queue?: QueueOptions | undefined;
  /**
   * The time source for the windows. Inject one in tests; it must be monotonic.
   * @default `performance.now()`
   */
  clock?: Clock | undefined;
  /**
   * Where the windows are kept. The default keeps them in this process. A `RedisStore` (from
   * `rate-limited-client/redis`) shares them, and the `concurrency` budget, with every process that
   * uses the same key. A store serves one client.
   * @default a new `MemoryStore`
   * @example new RedisStore({ redis: new Redis(url), key: 'github-api' })
   */
  store?: LimiterStore | undefined;
  /**
   * What each key gets (a task's `key` option: a shop, an installation, a customer's API key), made on
   * the key's first use: its own windows, concurrency, queue bound and share. A keyed task starts only
   * when its key's limits and the client's own all have room. A function of the key gives plans that
   * differ; it is called once per key (again after the key was let go), and a key whose limits it can
   * not give (it throws, or returns bad limits) rejects that task only.
   * @default none: keys share the client's limits, taking turns
   * @example { rateLimit: { limit: 2, windowMs: 1_000, burst: 40 }, concurrency: 4 }
   * @example (key) => plans.get(key) ?? standardPlan
   */
  perKey?: KeyLimits | ((key: string) => KeyLimits) | undefined;
  /**
   * A key with nothing queued, in flight or still counted in its windows (and no cooldown) is let go
   * this long after: its state is dropped, and a later task of the key starts it afresh. There is no
   * timer per key: one sweep serves them all, so a key may be kept up to a quarter longer.
   * @default 60_000
   */
  idleKeyMs?: number | undefined;
  /**
   * How keys share a priority: `'fair'` lets keys take turns (a key's `weight` gives it that many turns
   * to one), so one key's backlog can not starve the others; `'fifo'` keeps plain arrival order. Either
   * way a key whose own limits are full never holds back another key's work, priorities stay strict,
   * and within a key tasks go first in first out.
   * @default 'fair'
   */
  fairness?: 'fair' | 'fifo' | undefined;
}

/**
 * What one key gets: the client's `perKey` option (or what its function returns), or `setKeyLimits()`.
 * @example { rateLimit: { limit: 5_000, windowMs: 3_600_000 }, concurrency: 4, queue: { maxSize: 1_000, overflow: 'reject' } }
 */
export interface KeyLimits {
  /**
   * The key's own windows and buckets (any currency), enforced beside the client's.
   * @default none
   */
  rateLimit?: RateWindow | readonly RateWindow[] | undefined;
  /**
   * Most units of the key's weight in flight at once.
   * @default no limit of its own (the client's `concurrency` still holds)
   */
  concurrency?: number | undefined;
  /**
   * Most of the key's tasks waiting, and what one more does: `'reject'` refuses it, `'drop-oldest'` and
   * `'drop-lowest-priority'` push out one of the key's own. (`'block'` is the client's only.)
   * @default no bound of its own
   */
  queue?: QueueOptions | undefined;
  /**
   * The key's share among keys waiting at the same priority (`fairness: 'fair'`): its starts per
   * round, so a key of weight 2 gets two starts to another's one. A finite number >= 1 (1.5: three
   * starts every two rounds).
   * @default 1
   */
  weight?: number | undefined;
}

/** What a scheduled task receives. */
export interface TaskContext {
  /** Aborted when the caller's `signal` aborts or `timeoutMs` runs out; pass it on to I/O. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /**
   * Replaces the task's estimated `cost` with what it really cost, once, when that is known (usually
   * after the response): a currency that cost less gives the difference back to its windows at once
   * (waiting work may start), one that cost more counts the difference from now. Only while the task
   * runs; a second call, a currency no window counts or an amount that is not an integer >= 0 throws
   * (nothing is counted twice). A currency not named keeps its estimate. `requests` can not change.
   * @example context.setCost({ tokens: response.usage.total_tokens })
   */
  setCost(cost: Cost): void;
}

/** Options of one task: `schedule(task, options)`, and the same fields of a request. */
export interface ScheduleOptions {
  /**
   * Lower runs first; equal priorities run first-in first-out. Any finite number.
   * @default 0
   */
  priority?: number | undefined;
  /**
   * Units of every window and of the concurrency that the task uses. An integer >= 1 that fits in
   * every window's `limit` and in `concurrency`.
   * @default 1
   */
  weight?: number | undefined;
  /**
   * What the task costs in the currencies the windows count besides requests, e.g. `{ tokens: 1_800 }`:
   * it starts only when every window of every currency has room for it. Integers >= 0; a currency the
   * task does not name costs it 0, and one no window counts is a TypeError. `requests`, if named, is the
   * `weight`. The real cost, once known, replaces it: `context.setCost()`.
   * @default none: only `weight` requests
   */
  cost?: Cost | undefined;
  /** Abort to take the task out of the queue, or to tell it to stop; its promise rejects with the reason. */
  signal?: AbortSignal | undefined;
  /**
   * Most milliseconds the task may run. Then its signal aborts and the promise rejects with `TimeoutError`.
   * @default Infinity
   */
  timeoutMs?: number | undefined;
  /**
   * Most milliseconds the task may wait before it starts. Rejected at once with `TimeoutError` when the
   * windows already show that it can not start in time.
   * @default Infinity
   */
  maxWaitMs?: number | undefined;
  /**
   * The tenant the task runs for (a shop, an installation, a customer's API key): it starts only when
   * the key's limits (`perKey`) and the client's have room, takes turns with other keys' tasks, and what
   * a server says in answer to it (a 429, a remaining budget) holds for this key only. A non-empty
   * string of at most 256 characters.
   * @default none: the client's limits alone
   */
  key?: string | undefined;
}

/** A send rate the client learned from bare refusals (see `ClientStats.learnedRate`). */
export interface LearnedRate {
  /** Starts allowed per `windowMs`, paced evenly (a fraction: 17.5 a second is a start every 57 ms). */
  limit: number;
  /** The window the rate is stated in: 1000 (a second). */
  windowMs: number;
}

/** Options of `close(options)`. */
export interface CloseOptions {
  /**
   * `true`: finish everything queued and in flight first. `false`: reject what is queued with
   * `ClientClosedError` and wait only for what is in flight.
   * @default true
   */
  drain?: boolean | undefined;
}

/**
 * Counters of a client. Every accepted task is in exactly one of `queued`, `blocked`, `inFlight`,
 * `completed`, `failed`, `dropped` or `aborted`, so those add up to `submitted`. A task is counted as
 * finished when it gives its worker back (a task that ignores its signal after a timeout stays in
 * flight until it returns).
 */
export interface ClientStats {
  /** The client's `name` option. */
  name: string | undefined;
  /** Tasks in the queue. */
  queued: number;
  /** Tasks waiting outside a full queue (`overflow: 'block'`). */
  blocked: number;
  /** Tasks running, each holding a worker and its weight of the concurrency. */
  inFlight: number;
  /** Tasks accepted (not counting `rejected`). */
  submitted: number;
  /** Ended with a result: the task's promise resolved. */
  completed: number;
  /** Rejected by the task, timed out, waited past `maxWaitMs`, or discarded by `close({ drain: false })`. */
  failed: number;
  /** Retries scheduled (the HTTP layer retries; `schedule()` never does). */
  retried: number;
  /** Pushed out of a full queue by `'drop-oldest'` or `'drop-lowest-priority'`. */
  dropped: number;
  /** Ended by the caller's signal. */
  aborted: number;
  /**
   * Refused at submission: a full queue with `'reject'`, a closed client, an impossible `maxWaitMs`, a
   * signal already aborted.
   */
  rejected: number;
  /**
   * Usage of each window in force (as configured, or as `adaptive` tightened it), as far as this process
   * knows; empty when there is no rate limit.
   */
  windows: WindowUsage[];
  /** `queued / queue.maxSize`, or 0 for an unbounded queue. */
  queueUtilization: number;
  /** `queue.maxSize`: the most tasks the queue holds; Infinity when unbounded. */
  queueMaxSize: number;
  /** Epoch milliseconds until which a server-requested cooldown holds, or null. */
  cooldownUntil: number | null;
  /**
   * The rate the client sends at, learned from bare refusals (a 429 or 503 with no Retry-After and no
   * rate-limit headers; `adaptive`), starts paced evenly; undefined while nothing was learned. Never
   * above the configured windows.
   */
  learnedRate: LearnedRate | undefined;
  /** Keys the client keeps state for (active, or idle for less than `idleKeyMs`). */
  keys: number;
}

/** One key's figures: `stats({ key })`. A key the client does not keep (never used, or let go) shows zeros. */
export interface KeyStats {
  /** The key asked about. */
  key: string;
  /** The client keeps state for this key. */
  active: boolean;
  /** The key's tasks waiting (in line or outside a full client queue). */
  queued: number;
  /** The key's tasks running. */
  inFlight: number;
  /** The key's tasks accepted since the key was made (not counting `rejected`). */
  submitted: number;
  /** The key's tasks that ended with a result (see `ClientStats.completed`). */
  completed: number;
  /** The key's tasks that failed (see `ClientStats.failed`). */
  failed: number;
  /** The key's tasks pushed out of a full queue, the client's or the key's own. */
  dropped: number;
  /** The key's tasks ended by their caller's signal. */
  aborted: number;
  /** The key's tasks refused at submission (its full queue with `'reject'`, bad limits). */
  rejected: number;
  /** Usage of the key's own windows, as far as this process knows. */
  windows: WindowUsage[];
  /** The key's `concurrency` (Infinity: none of its own). */
  concurrency: number;
  /** The key's share among keys. */
  weight: number;
  /** Epoch milliseconds until which a cooldown the server asked for on this key holds, or null. */
  cooldownUntil: number | null;
  /** The rate learned from bare refusals on this key's requests, or undefined. */
  learnedRate: LearnedRate | undefined;
}
