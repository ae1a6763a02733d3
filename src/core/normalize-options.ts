// Checking the scheduling options once (the constructor's and each schedule()'s) into their normalized form.
import type { LimiterStore } from './store.js';
import { type Clock, monotonicClock } from './clock.js';
import { normalizeWindows } from './normalize-windows.js';
import { type PerKey, normalizeFairness, normalizeKey, normalizeIdleKeyMs, normalizePerKey } from './normalize-keys.js';
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
} from './validate.js';

const OVERFLOW_STRATEGIES: readonly OverflowStrategy[] = ['block', 'reject', 'drop-oldest', 'drop-lowest-priority'];
const SCHEDULER_KEYS = [
  'name',
  'concurrency',
  'workers',
  'rateLimit',
  'queue',
  'clock',
  'store',
  'perKey',
  'idleKeyMs',
  'fairness',
] as const;
/** What makes an object a store (see src/core/store.ts). */
const STORE_METHODS = ['open', 'setLimits', 'acquire', 'earliestWait', 'settle', 'amend', 'release', 'usage', 'close'] as const;
/** What a store needs besides to keep keys' own counters (see src/core/store.ts). */
const KEY_STORE_METHODS = ['setKeyLimits', 'dropKey', 'keyUsage'] as const;
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
const SCHEDULE_KEYS = ['priority', 'weight', 'cost', 'signal', 'timeoutMs', 'maxWaitMs', 'key'] as const;

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
  /** Undefined: keys have no limits of their own. */
  perKey: PerKey | undefined;
  idleKeyMs: number;
  fairness: 'fair' | 'fifo';
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
  /** The task's tenant key, checked. */
  key: string | undefined;
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

  const perKey = normalizePerKey(options.perKey);
  if (perKey !== undefined && store !== undefined && KEY_STORE_METHODS.some((method) => typeof store[method] !== 'function')) {
    throw new TypeError(
      `The \`perKey\` option requires a \`store\` that keeps keys' counters (with ${KEY_STORE_METHODS.join(', ')} methods), such as a MemoryStore or a RedisStore`,
    );
  }
  const idleKeyMs = normalizeIdleKeyMs(options.idleKeyMs);
  const fairness = normalizeFairness(options.fairness);
  return { name, concurrency, workers, windows, maxSize, overflow, clock, store, perKey, idleKeyMs, fairness };
}

/** Shared by every call without options: no allocation on the hot path. */
const DEFAULT_SCHEDULE_OPTIONS: Readonly<NormalizedScheduleOptions> = Object.freeze({
  priority: 0,
  weight: undefined,
  cost: undefined,
  signal: undefined,
  timeoutMs: Infinity,
  maxWaitMs: Infinity,
  key: undefined,
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
    key: options.key === undefined ? undefined : normalizeKey(options.key),
  };
}
