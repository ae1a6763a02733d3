/**
 * What makes the processes on one RedisStore key one client beyond the windows, on a real redis-server:
 * the server's word heard by one process (a cooldown, a remaining budget) holds every other, and a
 * process waiting with a better priority holds back the grants of worse ones. The scripts are driven
 * by hand here, each "process" a clientId; test/integration/redis-fleet-multi-process.test.ts runs
 * real processes through the client.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { type AcquireRequest, RedisScripts } from '../../src/stores/redis-scripts.js';
import { describeWithRedis, startRedis, type RedisServer } from '../support/redis-server.js';
import { delay } from '../support/redis-fixtures.js';

describeWithRedis('RedisStore: the fleet acts as one client', () => {
  let server: RedisServer;
  let redis: Redis;
  let keyCount = 0;
  let grantCount = 0;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  function fresh(): RedisScripts {
    return new RedisScripts(redis, `fleet-${++keyCount}`);
  }

  function request(clientId: string, overrides: Partial<AcquireRequest> = {}): AcquireRequest {
    return {
      id: `${clientId}:${++grantCount}`,
      clientId,
      weight: 1,
      cost: null,
      settle: true,
      concurrency: Infinity,
      leaseTtlMs: 30_000,
      marginMs: 0,
      clientTtlMs: 60_000,
      windows: [{ limit: 1_000, windowMs: 60_000 }],
      ...overrides,
    };
  }

  describe("the server's word", () => {
    it('a cooldown one process heard refuses every other until it ends, and never shrinks', async () => {
      const scripts = fresh();
      await scripts.feedback({ kind: 'cooldown', currency: 'requests', ms: 300 });
      // A shorter one heard later (an answer that left the server earlier) does not end it sooner.
      await scripts.feedback({ kind: 'cooldown', currency: 'requests', ms: 50 });
      const refused = await scripts.acquire(request('b'));
      expect(refused).toMatchObject({ granted: false, blockedBy: 'cooldown' });
      expect(refused.waitMs).toBeGreaterThan(200);
      expect(refused.waitMs).toBeLessThanOrEqual(300);
      await delay(refused.waitMs + 5);
      expect(await scripts.acquire(request('b'))).toMatchObject({ granted: true });
    });

    it('a cooldown of tokens holds only starts that cost tokens', async () => {
      const scripts = fresh();
      const windows = [
        { limit: 1_000, windowMs: 60_000 },
        { limit: 100_000, windowMs: 60_000, counts: 'tokens' },
      ];
      await scripts.feedback({ kind: 'cooldown', currency: 'tokens', ms: 5_000 });
      expect(await scripts.acquire(request('b', { windows }))).toMatchObject({ granted: true });
      expect(await scripts.acquire(request('b', { windows, cost: { tokens: 10 } }))).toMatchObject({
        granted: false,
        blockedBy: 'cooldown',
      });
    });

    it('a remaining budget is spent by every process, and holds the rest until its reset', async () => {
      const scripts = fresh();
      await scripts.feedback({ kind: 'budget', currency: 'requests', remaining: 2, resetMs: 250 });
      expect(await scripts.acquire(request('a'))).toMatchObject({ granted: true });
      expect(await scripts.acquire(request('b'))).toMatchObject({ granted: true });
      const refused = await scripts.acquire(request('c'));
      expect(refused).toMatchObject({ granted: false, blockedBy: 'budget' });
      expect(refused.waitMs).toBeLessThanOrEqual(250);
      await delay(refused.waitMs + 5);
      expect(await scripts.acquire(request('c'))).toMatchObject({ granted: true });
    });

    it('a budget of the same period only goes down; one of a later period replaces it', async () => {
      const scripts = fresh();
      await scripts.feedback({ kind: 'budget', currency: 'requests', remaining: 1, resetMs: 10_000 });
      // An answer that left the server earlier says more remained: the lower figure stands.
      await scripts.feedback({ kind: 'budget', currency: 'requests', remaining: 5, resetMs: 10_000 });
      expect(await scripts.acquire(request('a'))).toMatchObject({ granted: true });
      expect(await scripts.acquire(request('a'))).toMatchObject({ granted: false, blockedBy: 'budget' });
      await scripts.feedback({ kind: 'budget', currency: 'requests', remaining: 3, resetMs: 70_000 });
      expect(await scripts.acquire(request('a'))).toMatchObject({ granted: true });
    });
  });

  describe('priorities across processes', () => {
    const full = [{ limit: 1, windowMs: 300 }];

    it('a process refused with a better priority holds back grants to worse ones until it has started', async () => {
      const scripts = fresh();
      expect(await scripts.acquire(request('batch', { windows: full, priority: 10 }))).toMatchObject({ granted: true });
      // The user-facing process is refused by the window, and leaves word that it waits with priority 0.
      const urgent = await scripts.acquire(request('user', { windows: full, priority: 0, more: false }));
      expect(urgent).toMatchObject({ granted: false, blockedBy: 'window' });
      await delay(urgent.waitMs + 5);
      // The window has room again; the batch process asks first, and is refused for the better one.
      const held = await scripts.acquire(request('batch', { windows: full, priority: 10 }));
      expect(held).toMatchObject({ granted: false, blockedBy: 'priority' });
      expect(await scripts.acquire(request('user', { windows: full, priority: 0, more: false }))).toMatchObject({ granted: true });
      // Its word taken back, the batch waits for the window alone.
      expect(await scripts.acquire(request('batch', { windows: full, priority: 10 }))).toMatchObject({
        granted: false,
        blockedBy: 'window',
      });
    });

    it('equal priorities hold nothing back; a process is never held by its own word', async () => {
      const scripts = fresh();
      expect(await scripts.acquire(request('a', { windows: full, priority: 5 }))).toMatchObject({ granted: true });
      const refused = await scripts.acquire(request('b', { windows: full, priority: 5 }));
      expect(refused).toMatchObject({ blockedBy: 'window' });
      const own = await scripts.acquire(request('a', { windows: full, priority: 1 }));
      expect(own).toMatchObject({ blockedBy: 'window' });
      await delay(Math.max(refused.waitMs, own.waitMs) + 5);
      // 'a' waits with 1 now, 'b' with 5: 'a' is not held by its own word, 'b' is by a's.
      expect(await scripts.acquire(request('b', { windows: full, priority: 5 }))).toMatchObject({ blockedBy: 'priority' });
      expect(await scripts.acquire(request('a', { windows: full, priority: 3 }))).toMatchObject({ granted: true });
    });

    it("a waiting process's word lapses by itself (it died or stopped asking), hold after its wait", async () => {
      const scripts = fresh();
      expect(await scripts.acquire(request('x', { windows: full, priority: 9 }))).toMatchObject({ granted: true });
      const gone = await scripts.acquire(request('gone', { windows: full, priority: 0, holdMs: 100 }));
      expect(gone).toMatchObject({ blockedBy: 'window' });
      await delay(gone.waitMs + 5);
      const held = await scripts.acquire(request('x', { windows: full, priority: 9 }));
      expect(held).toMatchObject({ blockedBy: 'priority' });
      expect(held.waitMs).toBeLessThanOrEqual(100);
      await delay(held.waitMs + 5);
      expect(await scripts.acquire(request('x', { windows: full, priority: 9 }))).toMatchObject({ granted: true });
    });

    it("a grant with more to ask for keeps the process's word; the last one takes it back and announces it", async () => {
      const scripts = fresh();
      const listener = redis.duplicate();
      await listener.subscribe(scripts.channel);
      const heard: string[] = [];
      listener.on('message', (_channel: string, message: string) => heard.push(message));
      try {
        const room = [{ limit: 100, windowMs: 60_000 }];
        expect(await scripts.acquire(request('x', { windows: full, priority: 9 }))).toMatchObject({ granted: true });
        expect(await scripts.acquire(request('u', { windows: full, priority: 0 }))).toMatchObject({ blockedBy: 'window' });
        // With more room the urgent process starts one and has more waiting: the batch is still held.
        expect(await scripts.acquire(request('u', { windows: room, priority: 0, more: true }))).toMatchObject({ granted: true });
        expect(await scripts.acquire(request('x', { windows: room, priority: 9 }))).toMatchObject({ blockedBy: 'priority' });
        expect(heard).not.toContain('priority');
        expect(await scripts.acquire(request('u', { windows: room, priority: 0, more: false }))).toMatchObject({ granted: true });
        await once(listener, 'message');
        expect(heard).toContain('priority');
        expect(await scripts.acquire(request('x', { windows: room, priority: 9 }))).toMatchObject({ granted: true });
      } finally {
        listener.disconnect();
      }
    });
  });

  describe('through the client', () => {
    it('a Retry-After heard by one client holds another on the same key until it ends', async () => {
      // The first request is refused with Retry-After: 1, every later one answered 200.
      const arrivals: number[] = [];
      const api = createServer((_request, response) => {
        arrivals.push(performance.now());
        if (arrivals.length === 1) response.writeHead(429, { 'retry-after': '1' }).end();
        else response.writeHead(200).end('ok');
      });
      api.listen(0, '127.0.0.1');
      await once(api, 'listening');
      const baseUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
      const key = `fleet-${++keyCount}`;
      const connections: Redis[] = [];
      const make = () => {
        const connection = redis.duplicate();
        connections.push(connection);
        return new RateLimitedClient({
          baseUrl,
          retry: false,
          rateLimit: { limit: 100, windowMs: 1_000 },
          store: new RedisStore({ redis: connection, key }),
        });
      };
      const a = make();
      const b = make();
      try {
        await expect(a.get('/refused')).rejects.toMatchObject({ status: 429 });
        const heardAt = performance.now();
        // Its word reaches Redis in one round trip; b's next start is held until the second is over.
        await delay(20);
        await expect(b.get('/after')).resolves.toMatchObject({ status: 200 });
        // 1 000 ms from when a heard it, less the time its answer took to reach a and the word Redis.
        expect((arrivals[1] ?? 0) - heardAt).toBeGreaterThan(950);
      } finally {
        await Promise.all([a.close(), b.close()]);
        for (const connection of connections) connection.disconnect();
        api.close();
      }
    });
  });
});
