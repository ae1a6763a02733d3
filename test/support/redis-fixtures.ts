/**
 * What the Redis regression tests share: ioredis clients that fail fast, clients and bare stores on a
 * key, a fake StoreContext that records wake-ups and reports, and small timing helpers. Everything
 * made through a `RedisFixtures` is closed by its `cleanup()`.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { monotonicClock } from '../../src/core/clock.js';
import type { StoreError } from '../../src/errors/store-error.js';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore, type RedisStoreOptions } from '../../src/redis.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../../src/core/store.js';
import type { AcquireRequest } from '../../src/stores/redis-scripts.js';
import { type RedisServer, startRedis } from './redis-server.js';

export const now = (): number => performance.now();
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const TIMED_OUT: unique symbol = Symbol('still waiting');
/** `promise`'s value, or TIMED_OUT if it takes longer than `ms`. */
export const within = <T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> =>
  Promise.race([promise, delay(ms).then((): typeof TIMED_OUT => TIMED_OUT)]);

/** Redis's clock (TIME), the one the scripts read, in ms. */
export async function redisTime(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Number(micros) / 1000;
}

let grants = 0;
/**
 * An ACQUIRE for the script tests: one unit, no cost, settled at the start, no concurrency cap, no
 * windows, `overrides` besides; each call a new grant id of its client (`client-1` unless given).
 */
export function acquireRequest(overrides: Partial<AcquireRequest> = {}): AcquireRequest {
  const clientId = overrides.clientId ?? 'client-1';
  return {
    id: `${clientId}:${++grants}`,
    clientId,
    weight: 1,
    cost: null,
    settle: true,
    concurrency: Infinity,
    leaseTtlMs: 30_000,
    marginMs: 0,
    clientTtlMs: 60_000,
    windows: [],
    ...overrides,
  };
}

export const slot = (weight = 1, settleAtStart = true): StoreSlot => ({ weight, cost: null, settleAtStart, storeData: undefined });

/** A task that runs until `finish()` is called; `started` resolves once it runs. */
export function heldTask() {
  let finish!: () => void;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      markStarted();
      await done;
      return 'held';
    },
    started,
    finish: () => finish(),
  };
}

/** A StoreContext for driving a store by hand: it counts wake-ups and keeps reports. */
export function fakeContext(limits: StoreLimits) {
  let wakes = 0;
  let waiters: Array<() => void> = [];
  const reports: StoreError[] = [];
  const context: StoreContext = {
    limits,
    clock: monotonicClock,
    wake() {
      wakes++;
      const ready = waiters;
      waiters = [];
      for (const resolve of ready) resolve();
    },
    report(error: StoreError) {
      reports.push(error);
    },
  };
  return { context, reports, wakes: () => wakes, nextWake: () => new Promise<void>((resolve) => waiters.push(resolve)) };
}

export class RedisFixtures {
  readonly #url: () => string;
  readonly #redisClients: Redis[] = [];
  readonly #clients: RateLimitedClient[] = [];
  readonly #stores: RedisStore[] = [];

  /** `url`: the server's, read when a connection is made (the server starts in a beforeAll). */
  constructor(url: () => string) {
    this.#url = url;
  }

  /** An ioredis client without an offline queue, reconnecting fast: the store sees outages at once. */
  async connect(url = this.#url()): Promise<Redis> {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 });
    redis.on('error', () => {});
    this.#redisClients.push(redis);
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
    return redis;
  }

  /** A RateLimitedClient on a RedisStore of its own connection; `errors` collects its `error` events. */
  async client(
    storeOptions: Partial<RedisStoreOptions> & { key: string },
    clientOptions: ConstructorParameters<typeof RateLimitedClient>[0] = {},
  ): Promise<{ client: RateLimitedClient; store: RedisStore; errors: StoreError[] }> {
    const store = new RedisStore({ redis: await this.connect(), ...storeOptions });
    const client = new RateLimitedClient({ ...clientOptions, store });
    const errors: StoreError[] = [];
    client.on('error', (error) => errors.push(error as StoreError));
    this.#clients.push(client);
    return { client, store, errors };
  }

  /** A bare RedisStore opened on a fake context, to drive through the LimiterStore interface. */
  openStore(options: Partial<RedisStoreOptions> & { redis: Redis; key: string }, limits: StoreLimits) {
    const store = new RedisStore(options);
    this.#stores.push(store);
    const fake = fakeContext(limits);
    store.open(fake.context);
    return { store, ...fake };
  }

  async cleanup(): Promise<void> {
    for (const client of this.#clients.splice(0)) await client.close({ drain: false }).catch(() => {});
    for (const store of this.#stores.splice(0)) await store.close();
    for (const redis of this.#redisClients.splice(0)) redis.disconnect();
  }
}

/**
 * Asks `store` once, as a task would, and gives a grant straight back: what makes a store that counts
 * Redis as down try it again. Resolves with the answer.
 */
export async function probe(store: LimiterStore): Promise<number> {
  const probing = slot();
  const wait = await store.acquire(probing, now());
  if (wait === 0) store.release(probing, now());
  return wait;
}

/**
 * For a suite: one redis-server for the file, an admin connection to it, and `fixtures` closed after
 * each test (within `cleanupBoundMs`: a close() that hangs is one of the bugs such tests pin down).
 * `readOnly()` makes Redis answer READONLY to every write and keep its data, what a client sees on a
 * primary demoted by a failover; `writable()` undoes it, and runs after each test.
 */
export function useRedisServer(cleanupBoundMs = 6_000) {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  const running = () => {
    if (server === undefined) throw new Error('useRedisServer(): used before its beforeAll');
    return server;
  };
  const fixtures = new RedisFixtures(() => running().url);
  const adminClient = () => {
    if (admin === undefined) throw new Error('useRedisServer(): used before its beforeAll');
    return admin;
  };
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    admin.on('error', () => {});
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    await adminClient().call('REPLICAOF', 'NO', 'ONE');
    await within(fixtures.cleanup(), cleanupBoundMs);
  });
  return {
    fixtures,
    server: running,
    admin: adminClient,
    readOnly: () => adminClient().call('REPLICAOF', '127.0.0.1', '1'),
    writable: () => adminClient().call('REPLICAOF', 'NO', 'ONE'),
  };
}
