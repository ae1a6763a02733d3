// The options of `new RedisStore(...)`, its failure modes and its stats: their types, defaults and checks.
import { describe, integerAtLeast, knownKeys, oneOf, plainObject, positiveFinite } from '../core/validate.js';
import { redisClientOf } from './redis-clients.js';
import type { RedisClient, RedisLike } from './redis-like.js';

/**
 * What a `RedisStore` does while Redis can not be reached (or answers errors):
 * - `'local'`: this process goes on alone under its share of every limit (see `RedisStoreOptions`).
 * - `'closed'`: no work starts until Redis is back; queued tasks wait (those with `maxWaitMs` time out).
 * - `'open'`: work starts without any limit but the client's own concurrency.
 */
export type RedisFailureMode = 'local' | 'closed' | 'open';

/**
 * The options of `new RedisStore(...)`: a Redis client and the `key` that names the shared state are
 * required; the rest have defaults. Every store given the same `key` on the same Redis shares its limits.
 * @example new RedisStore({ redis: new Redis(url, { maxRetriesPerRequest: 1 }), key: 'github-api' })
 * @example new RedisStore({ redis: await createClient({ url }).connect(), key: 'github-api' })
 */
export interface RedisStoreOptions {
  /**
   * A connected Redis client, told apart by its members: an ioredis 5 or 6 `Redis` or `Cluster`, an
   * iovalkey `Redis` or `Cluster`, or a node-redis (5 or newer) `createClient()` or `createCluster()`
   * client. The store sends its scripts on it and makes one second connection from it (`duplicate()`)
   * for a pub/sub subscriber. The client stays yours: the store never connects, quits or closes it.
   *
   * Connect it before the store's first task (node-redis: `await client.connect()`; ioredis with
   * `lazyConnect`: `await redis.connect()`): a client not connected then counts as a Redis outage,
   * reported once, and `failureMode` answers until its connection is ready.
   *
   * Failures are only noticed fast when the client fails fast: the store never sends while the client
   * is not ready (no offline queue), but a command already sent waits for the client's own retries up
   * to `commandTimeoutMs`.
   * @example new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
   * @example await createClient({ url, disableOfflineQueue: true }).connect()
   */
  redis: RedisClient;
  /**
   * Names the shared state: every store with the same `key` (on the same Redis) shares the same windows
   * and concurrency budget. Keys are `rlc:{<key>}:*`, one Redis Cluster hash slot, so `{` and `}` are
   * refused.
   * @example 'github-api'
   */
  key: string;
  /**
   * What happens while Redis is unreachable; see `RedisFailureMode`. With `'local'`, each window
   * allows this process `max(1, floor(limit / clients))` and the concurrency likewise, `clients` being
   * the number of live processes Redis last reported; a process that never reached Redis assumes it
   * is alone (1), so several processes starting during an outage may together exceed the limits.
   * @default 'local'
   */
  failureMode?: RedisFailureMode | undefined;
  /**
   * Milliseconds added to every window in Redis, to absorb network and scheduling jitter between
   * processes: a start is counted by Redis's clock at the grant, and the task begins a little later in
   * its process (measured on a busy 2-core machine with 3 processes: 3-8 ms of a 10 ms margin used).
   * @default 20
   */
  safetyMarginMs?: number | undefined;
  /**
   * How long Redis keeps a grant's lease without renewal. A lease holds the shared concurrency and any
   * start not settled yet; this process renews its leases every `leaseTtlMs / 3`, so one that crashed
   * (`kill -9`) gives its room back at most `leaseTtlMs` later. A lease lost while its task runs (this
   * process's event loop stalled for longer, or Redis unreachable for longer) is reported.
   * @default 2_000
   */
  leaseTtlMs?: number | undefined;
  /**
   * How long the store waits for any Redis answer before it treats Redis as down.
   * @default 1_000
   */
  commandTimeoutMs?: number | undefined;
  /**
   * How long a process counts as live after its last acquire, for the client count that sizes the
   * `'local'` shares.
   * @default 60_000
   */
  clientTtlMs?: number | undefined;
}

/** Counters of a `RedisStore` (`stats()`), since it was created. */
export interface RedisStoreStats {
  /** `acquire` calls. Every one is a grant or a refusal. */
  acquires: number;
  /** Acquires granted, by Redis or (while it was down) by the failure mode. */
  grants: number;
  /** Acquires answered with a wait: by Redis, from memory of its last refusal (`syncRefusals`), or by the failure mode. */
  refusals: number;
  /** Refusals answered from memory of an earlier refusal, without asking Redis. */
  syncRefusals: number;
  /** Commands sent to Redis (acquire, settle, release, renew, restamp, and an outage's record and probe; a NOSCRIPT retry counts twice). */
  roundTrips: number;
  /**
   * Starts that began later than `safetyMarginMs` after their acquire was sent (a stalled event loop, a
   * slow Redis): each was moved in Redis's log to when it really began, at one more round trip. Many of
   * them say the margin is too small for this machine or network.
   */
  restamps: number;
  /** Grants made while Redis was down, by `failureMode: 'local'` or `'open'`. */
  fallbackGrants: number;
  /**
   * Starts granted in a batch beside the one asked for (one round trip for several of a process's
   * waiting tasks), taken or, if the process could not use them at once, given back.
   */
  batched: number;
  /** Whether Redis is treated as down now. */
  down: boolean;
}

/** Options with every default applied, checked; `redis` as the store speaks to it (a node-redis client adapted). */
export type ResolvedRedisStoreOptions = Required<{
  [K in Exclude<keyof RedisStoreOptions, 'redis'>]: Exclude<RedisStoreOptions[K], undefined>;
}> & { redis: RedisLike };

const OPTIONS = ['redis', 'key', 'failureMode', 'safetyMarginMs', 'leaseTtlMs', 'commandTimeoutMs', 'clientTtlMs'] as const;
const FAILURE_MODES: readonly RedisFailureMode[] = ['local', 'closed', 'open'];

/** A TypeError either way: braces are no value out of range but text the key's format can not hold. */
function checkKey(value: unknown): string {
  const expected = 'a non-empty string without `{` or `}` (they would break the Redis Cluster hash tag)';
  if (typeof value !== 'string' || /[{}]/.test(value)) throw new TypeError(`Expected \`key\` to be ${expected}, got ${describe(value)}`);
  if (value === '') throw new RangeError(`Expected \`key\` to be ${expected}, got ${describe(value)}`);
  return value;
}

function finiteAtLeastZero(name: string, value: unknown): number {
  const message = `Expected \`${name}\` to be a finite number >= 0, got ${describe(value)}`;
  if (typeof value !== 'number') throw new TypeError(message);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(message);
  return value;
}

/** Checks every option (TypeError or RangeError naming it) and applies the defaults. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  const given = plainObject('options', options);
  knownKeys('', given, OPTIONS);
  const client = redisClientOf(given.redis);
  const key = checkKey(given.key);
  client.checkKey(key);
  const or = <T>(name: keyof RedisStoreOptions, fallback: T, check: (name: string, value: unknown) => T): T =>
    given[name] === undefined ? fallback : check(name, given[name]);
  return {
    redis: client.redis,
    key,
    failureMode: or('failureMode', 'local', (name, value) => oneOf(name, value, FAILURE_MODES)),
    safetyMarginMs: or('safetyMarginMs', 20, finiteAtLeastZero),
    leaseTtlMs: or('leaseTtlMs', 2_000, (name, value) => integerAtLeast(name, value, 1)),
    commandTimeoutMs: or('commandTimeoutMs', 1_000, positiveFinite),
    clientTtlMs: or('clientTtlMs', 60_000, (name, value) => integerAtLeast(name, value, 1)),
  };
}
