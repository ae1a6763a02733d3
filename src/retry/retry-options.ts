// The retry options, checked into their normalized form, and the exponential backoff with jitter.
import { describe, duration, integerAtLeast, knownKeys, oneOf, plainObject } from '../core/validate.js';
import type { HttpMethod } from '../http/method.js';

/**
 * When and how a failed request is sent again (the `retry` option). A retry goes back through the queue
 * and counts in the windows; the delays are exponential from `minDelayMs`, capped at `maxDelayMs`, and a
 * wait the server asks for (Retry-After, or the reset of a used-up quota) replaces them. Fields left out keep the defaults, and a request's `retry` keeps
 * the client's for the fields it leaves out.
 * @example { retries: 5, statusCodes: [429, 503], maxDelayMs: 10_000 }
 */
export interface RetryOptions {
  /**
   * Retries after the first attempt.
   * @default 2
   */
  retries?: number | undefined;
  /**
   * Response statuses that are retried. A 403 that carries a wait (GitHub's rate-limit refusal) counts as
   * a 429. A server's `x-should-retry: true` or `false` overrides this list.
   * @default [429, 500, 502, 503, 504]
   */
  statusCodes?: readonly number[] | undefined;
  /**
   * Methods retried without an `idempotencyKey` (with one, every method is).
   * @default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']
   */
  methods?: readonly HttpMethod[] | undefined;
  /**
   * Network error codes that are retried.
   * @default ECONNRESET, ECONNREFUSED, ENOTFOUND, ENETDOWN, ENETUNREACH, EHOSTDOWN, EHOSTUNREACH, EPIPE, UND_ERR_SOCKET
   */
  errorCodes?: readonly string[] | undefined;
  /**
   * The shortest backoff delay in milliseconds. Retry n waits up to `minDelayMs * 2 ** n`, capped at `maxDelayMs`.
   * @default 500
   */
  minDelayMs?: number | undefined;
  /**
   * The longest backoff delay in milliseconds, at least `minDelayMs`.
   * @default 30_000
   */
  maxDelayMs?: number | undefined;
  /**
   * A server that asks to wait longer than this (Retry-After) fails the request at once, with the
   * wait on the error (`HttpError.retryAfterMs`), instead of sleeping.
   * @default 60_000
   */
  maxRetryAfterMs?: number | undefined;
  /**
   * `'full'`: each delay is random between `minDelayMs` and the exponential cap, so that clients that
   * failed together do not retry together. `'none'`: exactly the cap.
   * @default 'full'
   */
  jitter?: 'full' | 'none' | undefined;
  /** A source of randomness in [0, 1), for tests. @default Math.random */
  random?: (() => number) | undefined;
}

export interface NormalizedRetry {
  readonly retries: number;
  readonly statusCodes: ReadonlySet<number>;
  readonly methods: ReadonlySet<string>;
  readonly errorCodes: ReadonlySet<string>;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
  readonly jitter: 'full' | 'none';
  readonly random: () => number;
}

// As undici's RetryHandler.
export const DEFAULT_RETRY: NormalizedRetry = {
  retries: 2,
  statusCodes: new Set([429, 500, 502, 503, 504]),
  methods: new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']),
  errorCodes: new Set([
    'ECONNRESET',
    'ECONNREFUSED',
    'ENOTFOUND',
    'ENETDOWN',
    'ENETUNREACH',
    'EHOSTDOWN',
    'EHOSTUNREACH',
    'EPIPE',
    'UND_ERR_SOCKET',
  ]),
  minDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 60_000,
  jitter: 'full',
  random: Math.random,
};
const KEYS = [
  'retries',
  'statusCodes',
  'methods',
  'errorCodes',
  'minDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'jitter',
  'random',
] as const;

function listOf<T>(name: string, value: unknown, check: (item: unknown) => item is T): Set<T> {
  if (!Array.isArray(value) || !value.every(check)) throw new TypeError(`Expected \`${name}\` to be an array, got ${describe(value)}`);
  return new Set(value);
}

/** `false` turns retries off; an object overrides the defaults (or `base`, the client's policy). */
export function normalizeRetry(name: string, value: unknown, base: NormalizedRetry | false = DEFAULT_RETRY): NormalizedRetry | false {
  if (value === undefined) return base;
  if (value === false) return false;
  const options = plainObject(name, value);
  knownKeys(name, options, KEYS);
  const from = base === false ? DEFAULT_RETRY : base;
  const pick = <T>(key: (typeof KEYS)[number], read: (v: unknown) => T, fallback: T): T =>
    options[key] === undefined ? fallback : read(options[key]);
  const retry: NormalizedRetry = {
    retries: pick('retries', (v) => integerAtLeast(`${name}.retries`, v, 0), from.retries),
    statusCodes: pick('statusCodes', (v) => listOf(`${name}.statusCodes`, v, (c): c is number => Number.isInteger(c)), from.statusCodes),
    methods: pick(
      'methods',
      (v) => new Set([...listOf(`${name}.methods`, v, (m): m is string => typeof m === 'string')].map((m) => m.toUpperCase())),
      from.methods,
    ),
    errorCodes: pick('errorCodes', (v) => listOf(`${name}.errorCodes`, v, (c): c is string => typeof c === 'string'), from.errorCodes),
    minDelayMs: pick('minDelayMs', (v) => duration(`${name}.minDelayMs`, v, true), from.minDelayMs),
    maxDelayMs: pick('maxDelayMs', (v) => duration(`${name}.maxDelayMs`, v, true), from.maxDelayMs),
    maxRetryAfterMs: pick('maxRetryAfterMs', (v) => duration(`${name}.maxRetryAfterMs`, v, true), from.maxRetryAfterMs),
    jitter: pick('jitter', (v) => oneOf(`${name}.jitter`, v, ['full', 'none'] as const), from.jitter),
    random: pick(
      'random',
      (v) => {
        if (typeof v !== 'function') throw new TypeError(`Expected \`${name}.random\` to be a function, got ${describe(v)}`);
        return v as () => number;
      },
      from.random,
    ),
  };
  if (retry.maxDelayMs < retry.minDelayMs) {
    throw new RangeError(
      `Expected \`${name}.maxDelayMs\` (${retry.maxDelayMs}) to be at least \`${name}.minDelayMs\` (${retry.minDelayMs})`,
    );
  }
  return retry;
}

/**
 * The delay before retry number `retry` (1 for the first): exponential from `minDelayMs`, capped at
 * `maxDelayMs`, and with full jitter anywhere between `minDelayMs` and that cap.
 */
export function backoffDelay(policy: NormalizedRetry, retry: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** retry);
  if (policy.jitter === 'none') return cap;
  const random = Math.min(Math.max(policy.random(), 0), 1);
  return policy.minDelayMs + random * (cap - policy.minDelayMs);
}
