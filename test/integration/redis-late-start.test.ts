/**
 * A start that begins in its process later than `safetyMarginMs` after its acquire was sent: Redis
 * logged it at its grant, so another process could start a whole window after that but less than a
 * window after the real start. The store moves such a start in Redis's log to when it really began.
 *
 * The stall is made by holding back the answer to one acquire: to the store, that is what a busy event
 * loop looks like (the answer sits unread in the socket while the task can not begin). Both clients use
 * one connection, so the order their commands reach Redis is the order they were sent.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { delay, now, useRedisServer } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

/** `redis`, but the answer to the next EVALSHA after `stallNext(ms)` is handed over `ms` late. */
function stallable(redis: Redis) {
  let stallMs = 0;
  const proxy = new Proxy(redis, {
    get(target, property) {
      // EVAL too: the first EVALSHA of a script on a fresh server is answered NOSCRIPT and sent again.
      if (property === 'evalsha' || property === 'eval') {
        return async (...args: [string, number, ...Array<string | number>]) => {
          const reply: unknown = await target[property](...args);
          const held = stallMs;
          stallMs = 0;
          if (held > 0) await delay(held);
          return reply;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { redis: proxy, stallNext: (ms: number) => void (stallMs = ms) };
}

describeWithRedis('RedisStore: starts later than the safety margin', () => {
  const { fixtures } = useRedisServer();

  async function twoClients(windowMs: number) {
    const key = `late-${randomUUID()}`;
    const connection = stallable(await fixtures.connect());
    const options = { key, safetyMarginMs: 20 };
    const stores = [new RedisStore({ ...options, redis: connection.redis }), new RedisStore({ ...options, redis: connection.redis })];
    const clients = stores.map((store) => new RateLimitedClient({ store, rateLimit: { limit: 1, windowMs } }));
    const errors: unknown[] = [];
    for (const client of clients) client.on('error', (error) => errors.push(error));
    const close = () => Promise.all(clients.map((client) => client.close({ drain: false })));
    return { stores: stores as [RedisStore, RedisStore], clients: clients as [RateLimitedClient, RateLimitedClient], errors, close, stallNext: connection.stallNext };
  }

  it('a start stalled past the margin counts from when it began: another process waits a whole window after it', async () => {
    const windowMs = 200;
    const { stores, clients, errors, close, stallNext } = await twoClients(windowMs);
    try {
      // A's grant is logged at once, but its answer reaches A 100 ms later (5 margins late).
      stallNext(100);
      const startA = await clients[0].schedule(() => now());
      // B asks now; Redis's log says A started 100 ms ago. Without the move B would start about
      // 120 ms after A (a window plus the margin after the grant), inside A's window.
      const startB = await clients[1].schedule(() => now());
      expect(startB - startA).toBeGreaterThanOrEqual(windowMs);
      expect(stores[0].stats().restamps).toBe(1);
      expect(stores[1].stats().restamps).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });

  it('a start within the margin costs no extra round trip', async () => {
    const { stores, clients, errors, close } = await twoClients(50);
    try {
      for (let i = 0; i < 3; i++) await clients[0].schedule(() => i);
      const stats = stores[0].stats();
      expect(stats.grants).toBe(3);
      expect(stats.restamps).toBe(0);
      // One round trip per acquire Redis answered, and one release per grant (each held the client's
      // default concurrency): nothing more.
      expect(stats.roundTrips).toBe(stats.acquires - stats.syncRefusals + stats.grants);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });
});
