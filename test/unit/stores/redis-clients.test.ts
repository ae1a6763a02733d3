// Which Redis clients a RedisStore accepts, told apart by their members: real client objects of each
// library, made without connecting (nothing here needs a server), and their types.
import { Cluster as IORedis5Cluster, Redis as IORedis5 } from 'ioredis';
import { Cluster as IORedis6Cluster, Redis as IORedis6 } from 'ioredis6';
import { Cluster as IOValkeyCluster, Redis as IOValkey } from 'iovalkey';
import { createClient, createCluster } from 'redis';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { RedisStore, type RedisStoreOptions } from '../../../src/redis.js';
import { hashTag, redisClientOf } from '../../../src/stores/redis-clients.js';
import { NodeRedisAdapter } from '../../../src/stores/redis-node-adapter.js';

/** Made with `lazyConnect`: they never connect unless told to; disconnected after each test all the same. */
const made: Array<{ disconnect(): void }> = [];
function lazy<T extends { disconnect(): void }>(client: T): T {
  made.push(client);
  return client;
}

afterEach(() => {
  for (const client of made.splice(0)) client.disconnect();
});

const ROOT = [{ url: 'redis://127.0.0.1:7000' }];

describe('redisClientOf', () => {
  it.each([
    ['ioredis 5 Redis', () => lazy(new IORedis5({ lazyConnect: true }))],
    ['ioredis 5 Cluster', () => lazy(new IORedis5Cluster([{ port: 7000 }], { lazyConnect: true }))],
    ['ioredis 6 Redis', () => lazy(new IORedis6({ lazyConnect: true }))],
    ['ioredis 6 Cluster', () => lazy(new IORedis6Cluster([{ port: 7000 }], { lazyConnect: true }))],
    ['iovalkey Redis', () => lazy(new IOValkey({ lazyConnect: true }))],
    ['iovalkey Cluster', () => lazy(new IOValkeyCluster([{ port: 7000 }], { lazyConnect: true }))],
  ])('takes an %s as it is', (_name, make) => {
    const client = make();
    expect(redisClientOf(client).redis).toBe(client);
  });

  it('adapts a node-redis client and cluster, not connected: they say so', () => {
    for (const client of [createClient(), createCluster({ rootNodes: ROOT })]) {
      const { redis } = redisClientOf(client);
      expect(redis).toBeInstanceOf(NodeRedisAdapter);
      expect(redis.status).toBe('wait');
    }
  });

  it("refuses a Redis Cluster client whose keyPrefix would hash the store's keys whole, of each library", () => {
    const clusters = [
      lazy(new IORedis5Cluster([{ port: 7000 }], { lazyConnect: true, keyPrefix: '{}' })),
      lazy(new IORedis6Cluster([{ port: 7000 }], { lazyConnect: true, redisOptions: { keyPrefix: '{}:' } })),
      lazy(new IOValkeyCluster([{ port: 7000 }], { lazyConnect: true, keyPrefix: 'x{}' })),
      createCluster({ rootNodes: ROOT, keyPrefix: '{}' }),
    ];
    for (const redis of clusters) {
      expect(() => new RedisStore({ redis, key: 'api' })).toThrow(TypeError);
      expect(() => new RedisStore({ redis, key: 'api' })).toThrow(
        /a Redis Cluster client, to keep the store's keys under one hash tag.*CROSSSLOT/,
      );
    }
    // The same prefixes on a single server: no slots there.
    expect(() => new RedisStore({ redis: lazy(new IORedis5({ lazyConnect: true, keyPrefix: '{}' })), key: 'api' })).not.toThrow();
    expect(() => new RedisStore({ redis: createClient({ keyPrefix: '{}' }), key: 'api' })).not.toThrow();
    // A prefix with a tag of its own keeps every key in its slot.
    expect(() => new RedisStore({ redis: createCluster({ rootNodes: ROOT, keyPrefix: '{app}:' }), key: 'api' })).not.toThrow();
  });
});

describe('hashTag', () => {
  it.each([
    ['rlc:{api}:log', 'api'],
    ['{}rlc:{api}:log', undefined], // the first `{` closed at once: the whole key is hashed
    ['{rlc:{api}:log', 'rlc:{api'],
    ['{app}rlc:{api}:log', 'app'],
    ['}{a}', 'a'],
    ['no tag', undefined],
    ['{open', undefined],
  ])('%s: %s', (key, tag) => {
    expect(hashTag(key)).toBe(tag);
  });
});

describe('RedisStoreOptions.redis', () => {
  it("takes every supported library's clients without a cast, and no other object", () => {
    type Accepted = RedisStoreOptions['redis'];
    expectTypeOf<IORedis5>().toExtend<Accepted>();
    expectTypeOf<IORedis5Cluster>().toExtend<Accepted>();
    expectTypeOf<IORedis6>().toExtend<Accepted>();
    expectTypeOf<IORedis6Cluster>().toExtend<Accepted>();
    expectTypeOf<IOValkey>().toExtend<Accepted>();
    expectTypeOf<IOValkeyCluster>().toExtend<Accepted>();
    expectTypeOf<ReturnType<typeof createClient>>().toExtend<Accepted>();
    expectTypeOf(createClient({ RESP: 3 })).toExtend<Accepted>();
    expectTypeOf<ReturnType<typeof createCluster>>().toExtend<Accepted>();
    expectTypeOf(createCluster({ rootNodes: ROOT })).toExtend<Accepted>();
    expectTypeOf(createCluster({ rootNodes: ROOT, RESP: 2 })).toExtend<Accepted>();
    expectTypeOf(createClient({ RESP: 2 })).toExtend<Accepted>();
    // `await client.connect()` gives the client back: what the docs show.
    expectTypeOf<Awaited<ReturnType<ReturnType<typeof createClient>['connect']>>>().toExtend<Accepted>();
    expectTypeOf<{ status: string }>().not.toExtend<Accepted>();
    expectTypeOf<string>().not.toExtend<Accepted>();
    expectTypeOf<Promise<ReturnType<typeof createClient>>>().not.toExtend<Accepted>();
  });
});
