/**
 * A start that begins in its process later than `safetyMarginMs` after its acquire was sent: Redis
 * logged it at its grant, so another process could start a whole window after that but less than a
 * window after the real start. The store moves such a start in Redis's log to when it really began.
 *
 * The stall is made by holding back the answer to one acquire: to the store, that is what a busy event
 * loop looks like (the answer sits unread in the socket while the task can not begin).
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { RateLimitedClient, type RateWindow } from '../../src/index.js';
import { RedisStore, type RedisStoreOptions } from '../../src/redis.js';
import { delay, now, redisTime, useRedisServer } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

/**
 * `redis`, but after `stallNext(ms, during)` the answer to the next script command is handed over `ms`
 * late; `during` runs once that command has run in Redis, before the answer is handed over.
 */
function stallable(redis: Redis) {
  let stall: { ms: number; during: () => Promise<unknown> } | undefined;
  const proxy = new Proxy(redis, {
    get(target, property) {
      // EVAL too: the first EVALSHA of a script on a fresh server is answered NOSCRIPT and sent again.
      if (property === 'evalsha' || property === 'eval') {
        return async (...args: [string, number, ...Array<string | number>]) => {
          const reply: unknown = await target[property](...args);
          const held = stall;
          stall = undefined;
          if (held !== undefined) await Promise.all([held.during(), delay(held.ms)]);
          return reply;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
  return {
    redis: proxy,
    stallNext: (ms: number, during: () => Promise<unknown> = async () => {}) => {
      stall = { ms, during };
    },
  };
}

describeWithRedis('RedisStore: starts later than the safety margin', () => {
  const { fixtures, admin, readOnly, writable } = useRedisServer();

  /** Two stores ("processes") on one key, both on one connection: commands reach Redis as sent. */
  async function twoClients(rateLimit: RateWindow, storeOptions: Partial<RedisStoreOptions> = {}) {
    const key = `late-${randomUUID()}`;
    const connection = stallable(await fixtures.connect());
    const options = { key, safetyMarginMs: 20, ...storeOptions };
    const stores = [new RedisStore({ ...options, redis: connection.redis }), new RedisStore({ ...options, redis: connection.redis })];
    const clients = stores.map((store) => new RateLimitedClient({ store, rateLimit }));
    const errors: unknown[] = [];
    for (const client of clients) client.on('error', (error) => errors.push(error));
    const close = () => Promise.all(clients.map((client) => client.close({ drain: false })));
    const logScores = async () => (await admin().zrange(`rlc:{${key}}:log`, 0, -1, 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number);
    return {
      stores: stores as [RedisStore, RedisStore],
      clients: clients as [RateLimitedClient, RateLimitedClient],
      errors,
      close,
      logScores,
      stallNext: connection.stallNext,
    };
  }

  /**
   * A first late start on this server, so the scripts are loaded before a test measures: a command
   * answered NOSCRIPT is sent again behind later ones, and a restamp could then reach Redis after
   * another client's acquire.
   */
  async function loadScripts(): Promise<void> {
    const { clients, close, stallNext } = await twoClients({ limit: 10, windowMs: 1_000 });
    stallNext(40);
    await clients[0].schedule(() => 'warm-up');
    await close();
  }

  it('a start stalled past the margin counts from when it began: another process waits a whole window after it', async () => {
    await loadScripts();
    const windowMs = 200;
    const { stores, clients, errors, close, stallNext } = await twoClients({ limit: 1, windowMs });
    try {
      // A's grant is logged at once, but its answer reaches A 100 ms later (5 margins late).
      stallNext(100);
      const startA = await clients[0].schedule(() => now());
      // B asks now; Redis's log says A started 100 ms ago. Without the move B would start about
      // 120 ms after A (a window plus the margin after the grant), inside A's window.
      const startB = await clients[1].schedule(() => now());
      expect(startB - startA).toBeGreaterThanOrEqual(windowMs);
      expect(stores[0].stats().restamps).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });

  it('a late start whose move fails in an outage is moved once Redis is back', async () => {
    await loadScripts();
    const { stores, clients, errors, close, logScores, stallNext } = await twoClients(
      { limit: 1, windowMs: 60_000 },
      { commandTimeoutMs: 200, failureMode: 'closed' },
    );
    try {
      const asked = await redisTime(admin());
      // Granted and logged; while its answer is held back, Redis becomes a read-only replica (a
      // failover), so the move that follows the late start is refused.
      stallNext(100, readOnly);
      await clients[0].schedule(() => 'late');
      const [logged] = await logScores();
      expect((logged as number) - asked).toBeLessThan(100); // still at the grant
      await delay(50);
      await writable();
      // The store probes Redis every commandTimeoutMs while it counts it as down; once back, the move
      // goes out. Before, it was dropped, and the start stayed logged at its grant.
      const deadline = performance.now() + 3_000;
      let scores = await logScores();
      while ((scores[0] as number) - asked < 100 && performance.now() < deadline) {
        await delay(50);
        scores = await logScores();
      }
      expect((scores[0] as number) - asked).toBeGreaterThanOrEqual(100);
      expect(stores[0].stats().restamps).toBe(1);
      expect(stores[0].stats().down).toBe(false);
      // One report of the outage, from the refused move.
      expect(errors).toHaveLength(1);
    } finally {
      await writable();
      await close();
    }
  });

  it('a start within the margin costs no extra round trip', async () => {
    // A margin far above any stall this machine shows, and a window that never binds: every start is
    // prompt, and nothing is refused.
    await loadScripts(); // no NOSCRIPT answer, which would count a command twice
    const { stores, clients, errors, close } = await twoClients({ limit: 100, windowMs: 1_000 }, { safetyMarginMs: 1_000 });
    try {
      await clients[0].schedule(() => 'first');
      await delay(20); // its release, sent after it ended, is answered
      const before = stores[0].stats();
      for (let i = 0; i < 3; i++) await clients[0].schedule(() => i);
      const after = stores[0].stats();
      expect(after.grants - before.grants).toBe(3);
      expect(after.restamps).toBe(0);
      // An acquire and a release (each held the client's default concurrency) per task: nothing more.
      expect(after.roundTrips - before.roundTrips).toBe(6);
      expect(errors).toEqual([]);
    } finally {
      await close();
    }
  });
});
