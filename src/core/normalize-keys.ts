// Checking the options about keys (tenants): a task's `key`, `perKey` and `setKeyLimits()`'s limits, `idleKeyMs`, `fairness`.
import type { KeyLimits, OverflowStrategy, RateWindow } from './options.js';
import { normalizeWindows } from './normalize-windows.js';
import { countOrInfinity, describe, duration, integerAtLeast, knownKeys, oneOf, plainObject } from './validate.js';

/** The longest key: keys become Redis key names and map keys, and a longer one is more likely a mistake (a body). */
export const MAX_KEY_LENGTH = 256;

const KEY_LIMITS_KEYS = ['rateLimit', 'concurrency', 'queue', 'weight'] as const;
const QUEUE_KEYS = ['maxSize', 'overflow'] as const;
/** `'block'` holds a producer outside the client's one line; a key has no line of its own to wait outside. */
const KEY_OVERFLOW: readonly OverflowStrategy[] = ['reject', 'drop-oldest', 'drop-lowest-priority'];

/** A key's limits, every field set. */
export interface NormalizedKeyLimits {
  /** Each with its `counts` set; empty: none of its own. */
  readonly windows: RateWindow[];
  /** Infinity: none of its own. */
  readonly concurrency: number;
  readonly maxSize: number;
  readonly overflow: OverflowStrategy;
  readonly weight: number;
}

/** A key with nothing of its own: the client's limits alone, weight 1. */
export const NO_KEY_LIMITS: NormalizedKeyLimits = Object.freeze({
  windows: [],
  concurrency: Infinity,
  maxSize: Infinity,
  overflow: 'reject',
  weight: 1,
});

/** What `perKey` gives: the same limits for every key, or a function of the key. */
export type PerKey = NormalizedKeyLimits | ((key: string) => KeyLimits);

/** Checks a task's `key`. */
export function normalizeKey(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new TypeError(`Expected \`key\` to be a non-empty string of at most ${MAX_KEY_LENGTH} characters, got ${describeKey(value)}`);
  }
  return value;
}

/** A key as an error message shows it: quoted, and cut short when long. */
export function describeKey(value: unknown): string {
  if (typeof value !== 'string') return describe(value);
  if (value.length === 0) return `'' (an empty string)`;
  if (value.length > MAX_KEY_LENGTH) return `a string of ${value.length} characters ('${value.slice(0, 32)}…')`;
  return `'${value}'`;
}

/**
 * Checks a key's limits (`name` says where they came from: `perKey`, `perKey('shop-1')`,
 * `setKeyLimits('shop-1', …)`). Fields not given are taken from `base`.
 */
export function normalizeKeyLimits(name: string, value: unknown, base: NormalizedKeyLimits = NO_KEY_LIMITS): NormalizedKeyLimits {
  const options = plainObject(name, value) as KeyLimits & Record<string, unknown>;
  knownKeys(name, options, KEY_LIMITS_KEYS);
  const windows = options.rateLimit === undefined ? base.windows : normalizeWindows(`${name}.rateLimit`, options.rateLimit);
  const concurrency = options.concurrency === undefined ? base.concurrency : integerAtLeast(`${name}.concurrency`, options.concurrency, 1);
  let { maxSize, overflow } = base;
  if (options.queue !== undefined) {
    const queue = plainObject(`${name}.queue`, options.queue);
    knownKeys(`${name}.queue`, queue, QUEUE_KEYS);
    if (queue.maxSize !== undefined) maxSize = countOrInfinity(`${name}.queue.maxSize`, queue.maxSize, 1);
    if (queue.overflow !== undefined) {
      if (queue.overflow === 'block') {
        throw new TypeError(
          `Expected \`${name}.queue.overflow\` to be one of 'reject', 'drop-oldest', 'drop-lowest-priority', got 'block': a key has no line of its own to wait outside (the client's \`queue\` may block)`,
        );
      }
      overflow = oneOf(`${name}.queue.overflow`, queue.overflow, KEY_OVERFLOW);
    }
  }
  const weight = options.weight === undefined ? base.weight : weightOf(`${name}.weight`, options.weight);
  return { windows, concurrency, maxSize, overflow, weight };
}

/** Checks `perKey`: limits are checked once here; a function's answers when each key is made. */
export function normalizePerKey(value: unknown): PerKey | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as (key: string) => KeyLimits;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Expected \`perKey\` to be an object of limits or a function of the key returning one, got ${describe(value)}`);
  }
  return normalizeKeyLimits('perKey', value);
}

/** A key's turns per round: a finite number >= 1 (1 is the default; weights only compare with each other). */
function weightOf(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= 1 (the key's turns per round), got ${describe(value)}`);
  }
  return value;
}

export function normalizeIdleKeyMs(value: unknown): number {
  return value === undefined ? 60_000 : duration('idleKeyMs', value, false);
}

export function normalizeFairness(value: unknown): 'fair' | 'fifo' {
  return value === undefined ? 'fair' : oneOf('fairness', value, ['fair', 'fifo'] as const);
}
