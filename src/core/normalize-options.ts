// Checking the scheduling options once (the constructor's and each schedule()'s) into their normalized form.
import type { LimiterStore } from './store.js';
import { type Clock, monotonicClock } from './clock.js';
import { normalizeCurrency } from './cost.js';
import type { OverflowStrategy, RateWindow, ScheduleOptions, SchedulerOptions } from './options.js';
import {
  countOrInfinity,
  describe,
  duration,
  finiteNumber,
  integerAtLeast,
  isAbortSignal,
  knownKeys,
  nonEmptyString,
  oneOf,
  plainObject,
  positiveFinite,
} from './validate.js';

const OVERFLOW_STRATEGIES: readonly OverflowStrategy[] = ['block', 'reject', 'drop-oldest', 'drop-lowest-priority'];
const SCHEDULER_KEYS = ['name', 'concurrency', 'workers', 'rateLimit', 'queue', 'clock', 'store'] as const;
/** What makes an object a store (see src/core/store.ts). */
const STORE_METHODS = ['open', 'setLimits', 'acquire', 'earliestWait', 'settle', 'amend', 'release', 'usage', 'close'] as const;
/** Checked by the HTTP layer (src/http/http-layer.ts). */
const HTTP_KEYS = [
  'baseUrl',
  'headers',
  'timeoutMs',
  'transport',
  'dispatcher',
  'allowAbsoluteUrls',
  'secretHeaders',
  'retry',
  'adaptive',
  'meter',
] as const;
const CLIENT_KEYS = [...SCHEDULER_KEYS, ...HTTP_KEYS] as const;
const QUEUE_KEYS = ['maxSize', 'overflow'] as const;
const WINDOW_KEYS = ['limit', 'windowMs', 'counts', 'burst'] as const;
const SCHEDULE_KEYS = ['priority', 'weight', 'cost', 'signal', 'timeoutMs', 'maxWaitMs'] as const;

export interface NormalizedClientOptions {
  name: string | undefined;
  concurrency: number;
  /** Undefined when the pool follows `concurrency`. */
  workers: number | undefined;
  /** Each with its `counts` set. */
  windows: RateWindow[];
  maxSize: number;
  overflow: OverflowStrategy;
  clock: Clock;
  /** Undefined for the default in-memory store. */
  store: LimiterStore | undefined;
}

export interface NormalizedScheduleOptions {
  priority: number;
  /** Undefined when not given: the default 1, or the `cost`'s `requests`. */
  weight: number | undefined;
  /** As given: checked against the client's currencies by the scheduler. */
  cost: unknown;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  maxWaitMs: number;
}

/** Validates `rateLimit` (one window or an array of them) into a fresh array of windows, each with its `counts`. */
export function normalizeWindows(name: string, value: unknown): RateWindow[] {
  if (value === undefined) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map((entry, index) => {
    const at = Array.isArray(value) ? `${name}[${index}]` : name;
    const window = plainObject(at, entry);
    knownKeys(at, window, WINDOW_KEYS);
    return {
      limit: integerAtLeast(`${at}.limit`, window.limit, 1),
      windowMs: positiveFinite(`${at}.windowMs`, window.windowMs),
      counts: normalizeCurrency(`${at}.counts`, window.counts),
      ...(window.burst === undefined ? {} : { burst: integerAtLeast(`${at}.burst`, window.burst, 1) }),
    };
  });
}

export function normalizeConcurrency(name: string, value: unknown): number {
  return integerAtLeast(name, value, 1);
}

/** Checks every client option once, so that a client is either built whole or not at all. */
export function normalizeClientOptions(input: unknown): NormalizedClientOptions {
  const options = plainObject('options', input ?? {}) as SchedulerOptions & Record<string, unknown>;
  knownKeys('', options, CLIENT_KEYS);

  const name = options.name === undefined ? undefined : nonEmptyString('name', options.name);
  const concurrency = options.concurrency === undefined ? 10 : normalizeConcurrency('concurrency', options.concurrency);
  const workers = options.workers === undefined ? undefined : integerAtLeast('workers', options.workers, 1);
  const windows = normalizeWindows('rateLimit', options.rateLimit);

  let maxSize = Infinity;
  let overflow: OverflowStrategy = 'block';
  if (options.queue !== undefined) {
    const queue = plainObject('queue', options.queue);
    knownKeys('queue', queue, QUEUE_KEYS);
    if (queue.maxSize !== undefined) maxSize = countOrInfinity('queue.maxSize', queue.maxSize, 1);
    if (queue.overflow !== undefined) overflow = oneOf('queue.overflow', queue.overflow, OVERFLOW_STRATEGIES);
    if (overflow !== 'block' && maxSize === Infinity) {
      throw new TypeError(
        `The \`queue.overflow\` option '${overflow}' requires a finite \`queue.maxSize\`: an unbounded queue never overflows`,
      );
    }
  }

  let clock = monotonicClock;
  if (options.clock !== undefined) {
    const candidate = plainObject('clock', options.clock);
    if (typeof candidate.now !== 'function') {
      throw new TypeError(
        `Expected \`clock\` to be an object with a \`now()\` method returning milliseconds; for \`now\` got ${describe(candidate.now)}`,
      );
    }
    clock = candidate as unknown as Clock;
  }

  let store: LimiterStore | undefined;
  if (options.store !== undefined) {
    const candidate = options.store as unknown;
    const missing =
      typeof candidate === 'object' && candidate !== null
        ? STORE_METHODS.find((method) => typeof (candidate as Record<string, unknown>)[method] !== 'function')
        : undefined;
    if (typeof candidate !== 'object' || candidate === null || missing !== undefined) {
      throw new TypeError(
        `Expected \`store\` to be a store such as a RedisStore (an object with ${STORE_METHODS.join(', ')} methods)` +
          (missing === undefined ? `, got ${describe(candidate)}` : `; its \`${missing}\` is not a function`),
      );
    }
    store = candidate as LimiterStore;
  }

  return { name, concurrency, workers, windows, maxSize, overflow, clock, store };
}

/** Shared by every call without options: no allocation on the hot path. */
const DEFAULT_SCHEDULE_OPTIONS: Readonly<NormalizedScheduleOptions> = Object.freeze({
  priority: 0,
  weight: undefined,
  cost: undefined,
  signal: undefined,
  timeoutMs: Infinity,
  maxWaitMs: Infinity,
});

/** Checks the options of one `schedule()` call. Limits that depend on the client are checked by the client. */
export function normalizeScheduleOptions(input: unknown): NormalizedScheduleOptions {
  if (input === undefined) return DEFAULT_SCHEDULE_OPTIONS;
  const options = plainObject('options', input) as ScheduleOptions & Record<string, unknown>;
  knownKeys('', options, SCHEDULE_KEYS);
  if (options.signal !== undefined && !isAbortSignal(options.signal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${describe(options.signal)}`);
  }
  return {
    priority: options.priority === undefined ? 0 : finiteNumber('priority', options.priority),
    weight: options.weight === undefined ? undefined : integerAtLeast('weight', options.weight, 1),
    cost: options.cost,
    signal: options.signal,
    timeoutMs: options.timeoutMs === undefined ? Infinity : duration('timeoutMs', options.timeoutMs, false),
    maxWaitMs: options.maxWaitMs === undefined ? Infinity : duration('maxWaitMs', options.maxWaitMs, true),
  };
}
