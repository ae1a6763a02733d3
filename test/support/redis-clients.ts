/**
 * Every Redis client library the store accepts, each making clients the way the Redis tests need them:
 * connected, failing fast (no offline queue: a command while disconnected is refused at once, so the
 * store sees an outage rather than a slow command) and reconnecting every 50 ms (a restarted server is
 * seen again at once). Their connection errors (refused reconnections while a server is down) go to a
 * no-op listener: the store reports outages, and that is what the tests watch.
 *
 * `TestClient` hides what differs between the libraries (how readiness is read and announced, how a
 * client is closed) from the tests; `redis` is what a user would pass to `RedisStore`.
 */
import { Redis as IORedis5 } from 'ioredis';
import { Redis as IORedis6 } from 'ioredis6';
import { Redis as IOValkey } from 'iovalkey';
import { createClient } from 'redis';
import type { RedisClient } from '../../src/stores/redis-like.js';

export interface TestClient {
  /** The client itself, as a user passes it to `RedisStore`. */
  readonly redis: RedisClient;
  /** Whether its connection is ready now. */
  ready(): boolean;
  /** Calls `listener` each time its connection becomes ready (again); returns what removes it. */
  onReady(listener: () => void): () => void;
  /** Resolves once its connection is ready (`true`) or not (`false`), at once if it is so already. */
  until(ready: boolean): Promise<void>;
  /** Resolves when it next tries to reconnect (while its server is down). */
  nextAttempt(): Promise<void>;
  /** How many `'ready'` listeners it has: the store adds one while it is open. */
  readyListeners(): number;
  /** Closes it at once. */
  close(): void;
}

export interface ClientLibrary {
  /** As the tests name it: `'ioredis 5'`, `'ioredis 6'`, `'iovalkey'`, `'node-redis'`. */
  readonly name: string;
  /** A client of `url` still making its first connection. */
  connecting(url: string): TestClient;
  /** A client of `url` not connected, until `connect()` (ioredis: `lazyConnect`; node-redis: as made). */
  unconnected(url: string): TestClient & { connect(): Promise<void> };
}

/** A connected client of `library` (see the file's comment). */
export async function connectWith(library: ClientLibrary, url: string): Promise<TestClient> {
  const client = library.connecting(url);
  await client.until(true);
  return client;
}

/** What ioredis 5 and 6 and iovalkey share: one API. */
interface IORedisLike {
  readonly status: string;
  connect(): Promise<void>;
  on(event: string, listener: () => void): unknown;
  once(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
  listenerCount(event: string): number;
  disconnect(): void;
}

function ioredisClient(redis: IORedisLike & RedisClient): TestClient {
  const ready = () => redis.status === 'ready';
  return {
    redis,
    ready,
    onReady(listener) {
      redis.on('ready', listener);
      return () => redis.off('ready', listener);
    },
    until: (wanted) =>
      until(
        ready,
        wanted,
        (check) => (redis.on('ready', check), redis.on('close', check)),
        (check) => {
          redis.off('ready', check);
          redis.off('close', check);
        },
      ),
    // During an attempt ioredis says 'connecting' (until the refusal), and 'reconnecting' between them.
    nextAttempt: () => new Promise((resolve) => redis.once('connecting', () => resolve())),
    readyListeners: () => redis.listenerCount('ready'),
    close: () => redis.disconnect(),
  };
}

/** Resolves once `ready()` is `wanted`, checked now and at each event `listen` subscribes it to. */
function until(ready: () => boolean, wanted: boolean, listen: (check: () => void) => void, unlisten: (check: () => void) => void) {
  return new Promise<void>((resolve) => {
    const check = () => {
      if (ready() !== wanted) return;
      unlisten(check);
      resolve();
    };
    listen(check);
    check();
  });
}

const IOREDIS_OPTIONS = { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 };

type IORedisOptions = typeof IOREDIS_OPTIONS & { lazyConnect?: boolean };

function ioredisLibrary(name: string, make: (url: string, options: IORedisOptions) => IORedisLike & RedisClient): ClientLibrary {
  const client = (url: string, options: IORedisOptions) => {
    const redis = make(url, options);
    redis.on('error', () => {});
    return redis;
  };
  return {
    name,
    connecting: (url) => ioredisClient(client(url, IOREDIS_OPTIONS)),
    unconnected(url) {
      const redis = client(url, { ...IOREDIS_OPTIONS, lazyConnect: true });
      return { ...ioredisClient(redis), connect: () => redis.connect() };
    },
  };
}

export const IOREDIS_5 = ioredisLibrary('ioredis 5', (url, options) => new IORedis5(url, options));
export const IOREDIS_6 = ioredisLibrary('ioredis 6', (url, options) => new IORedis6(url, options));
export const IOVALKEY = ioredisLibrary('iovalkey', (url, options) => new IOValkey(url, options));

function nodeRedisClient(url: string) {
  // `disableOfflineQueue` is node-redis's `enableOfflineQueue: false`.
  const redis = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } });
  redis.on('error', () => {});
  return redis;
}

export const NODE_REDIS: ClientLibrary = {
  name: 'node-redis',
  connecting(url) {
    const redis = nodeRedisClient(url);
    // Rejected if the client is destroyed first; node-redis keeps trying by reconnectStrategy meanwhile.
    redis.connect().catch(() => {});
    return nodeRedisTestClient(redis);
  },
  unconnected(url) {
    const redis = nodeRedisClient(url);
    return {
      ...nodeRedisTestClient(redis),
      connect: async () => {
        await redis.connect();
      },
    };
  },
};

function nodeRedisTestClient(redis: ReturnType<typeof nodeRedisClient>): TestClient {
  const ready = () => redis.isReady;
  // node-redis says 'reconnecting' before each attempt, 'error' when one fails, 'end' once closed.
  const events = ['ready', 'reconnecting', 'error', 'end'];
  return {
    redis,
    ready,
    onReady(listener) {
      redis.on('ready', listener);
      return () => redis.off('ready', listener);
    },
    until: (wanted) =>
      until(
        ready,
        wanted,
        (check) => events.forEach((event) => redis.on(event, check)),
        (check) => events.forEach((event) => redis.off(event, check)),
      ),
    nextAttempt: () => new Promise((resolve) => redis.once('reconnecting', () => resolve())),
    readyListeners: () => redis.listenerCount('ready'),
    close: () => {
      if (redis.isOpen) redis.destroy();
    },
  };
}

/** Every client library the store accepts. */
const ALL_LIBRARIES: readonly ClientLibrary[] = [IOREDIS_5, IOREDIS_6, IOVALKEY, NODE_REDIS];

/**
 * The libraries the store's suites run on: all four, or those named in `RLC_REDIS_CLIENTS` (comma
 * separated, e.g. `ioredis 5,node-redis`). CI runs all four on Node 20, and on Node 22 and 24 the two
 * whose code differs (ioredis 6 and iovalkey share ioredis 5's; what Node changes is the same for all).
 */
export const CLIENT_LIBRARIES: readonly ClientLibrary[] = ((names) => {
  if (names === undefined || names === '') return ALL_LIBRARIES;
  const wanted = names.split(',').map((name) => name.trim());
  const chosen = ALL_LIBRARIES.filter((library) => wanted.includes(library.name));
  if (chosen.length !== wanted.length) throw new Error(`RLC_REDIS_CLIENTS names an unknown library: ${names}`);
  return chosen;
})(process.env.RLC_REDIS_CLIENTS);
