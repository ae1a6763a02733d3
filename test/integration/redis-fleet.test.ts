/**
 * What makes the processes on one RedisStore key one client beyond the windows, on a real redis-server:
 * the server's word heard by one process (a cooldown, a remaining budget) holds every other, and a
 * process waiting with a better priority holds back the grants of worse ones. The scripts are driven
 * by hand here, each "process" a clientId; test/integration/redis-fleet-multi-process.test.ts runs
 * real processes through the client.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedClient, type RateLimitedClientOptions } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { type AcquireRequest, RedisScripts } from '../../src/stores/redis-scripts.js';
import { describeWithRedis, startRedis, type RedisServer } from '../support/redis-server.js';
import { acquireRequest, delay } from '../support/redis-fixtures.js';

describeWithRedis('RedisStore: the fleet acts as one client', () => {
  let server: RedisServer;
  let redis: Redis;
  let keyCount = 0;

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
    return acquireRequest({ clientId, windows: [{ limit: 1_000, windowMs: 60_000 }], ...overrides });
  }

  it('reads the answers of an ioredis client with stringNumbers (integers as strings)', async () => {
    const strings = new Redis(server.url, { maxRetriesPerRequest: 1, stringNumbers: true });
    try {
      const scripts = new RedisScripts(strings, `fleet-${++keyCount}`);
      expect(await scripts.acquire(request('s', { windows: [{ limit: 1, windowMs: 60_000 }] }))).toMatchObject({
        granted: true,
        clients: 1,
        used: [1],
      });
      expect(await scripts.acquire(request('s', { windows: [{ limit: 1, windowMs: 60_000 }] }))).toMatchObject({
        granted: false,
        blockedBy: 'window',
      });
    } finally {
      strings.disconnect();
    }
  });

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

  describe('windows a server tightened', () => {
    it('are kept per window length at the lowest limit heard, and answered to a process that has not heard that version', async () => {
      const scripts = fresh();
      expect(await scripts.acquire(request('b'))).toMatchObject({ policyVersion: 0 });
      expect((await scripts.acquire(request('b'))).policy).toBeUndefined();
      await scripts.feedback({ kind: 'policy', windows: [{ limit: 10, windowMs: 1_000 }] });
      // A looser word on the same window changes nothing; another window is added.
      await scripts.feedback({ kind: 'policy', windows: [{ limit: 20, windowMs: 1_000 }] });
      await scripts.feedback({ kind: 'policy', windows: [{ limit: 100, windowMs: 60_000 }] });
      const told = await scripts.acquire(request('b', { policyVersion: 0 }));
      expect(told.policyVersion).toBe(2);
      expect(told.policy).toHaveLength(2);
      expect(told.policy).toEqual(
        expect.arrayContaining([
          { limit: 10, windowMs: 1_000, counts: 'requests' },
          { limit: 100, windowMs: 60_000, counts: 'requests' },
        ]),
      );
      expect((await scripts.acquire(request('b', { policyVersion: 2 }))).policy).toBeUndefined();
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

  describe('wake-one', () => {
    /** Messages on the store's channel, heard from here. */
    async function listen(scripts: RedisScripts) {
      const listener = redis.duplicate();
      await listener.subscribe(scripts.channel);
      const heard: string[] = [];
      listener.on('message', (_channel: string, message: string) => heard.push(message));
      return { heard, close: () => listener.disconnect() };
    }

    const one = { concurrency: 1, windows: [] };

    /**
     * Runs `body` on a fresh key whose concurrency of 1 'holder' holds (`holder`: its grant), with the
     * channel's messages in `heard`.
     */
    async function withHolder(
      body: (line: { scripts: RedisScripts; holder: AcquireRequest; heard: string[] }) => Promise<void>,
    ): Promise<void> {
      const scripts = fresh();
      const channel = await listen(scripts);
      try {
        const holder = request('holder', one);
        expect(await scripts.acquire(holder)).toMatchObject({ granted: true, line: 0 });
        await body({ scripts, holder, heard: channel.heard });
      } finally {
        channel.close();
      }
    }

    it('a release wakes one process in line for the shared concurrency, by name: the best priority, then the longest waiting', async () => {
      await withHolder(async ({ scripts, holder, heard }) => {
        // Three in line: 'early' and 'late' wait with priority 5 (early first), 'urgent' with 1.
        for (const [clientId, priority] of [
          ['early', 5],
          ['late', 5],
          ['urgent', 1],
        ] as const) {
          expect(await scripts.acquire(request(clientId, { ...one, priority }))).toMatchObject({ blockedBy: 'concurrency' });
        }
        await scripts.release([holder.id]);
        await delay(30);
        expect(heard).toEqual(['release:urgent']);
        // The unit is urgent's: a process that was not in line goes to the back, even with room free.
        expect(await scripts.acquire(request('fresh', { ...one, priority: 5 }))).toMatchObject({
          blockedBy: 'concurrency',
          line: 3,
          inLine: true,
        });
        // Woken with nothing to ask for, urgent passes its wake on, in line order.
        await scripts.passWake('urgent', 250);
        await scripts.passWake('early', 250);
        await delay(30);
        expect(heard.filter((message) => message.startsWith('release'))).toEqual(['release:urgent', 'release:early', 'release:late']);
        // Nor do they wait with their priorities any more: the processes they held are told.
        expect(heard.filter((message) => message === 'priority')).toHaveLength(2);
        expect(await scripts.acquire(request('late', { ...one, priority: 5 }))).toMatchObject({ granted: true, line: 1, inLine: false });
      });
    });

    it('a sleeper that asks again keeps its place in line; one refused by something else leaves it', async () => {
      await withHolder(async ({ scripts, holder, heard }) => {
        expect(await scripts.acquire(request('first', one))).toMatchObject({ blockedBy: 'concurrency' });
        expect(await scripts.acquire(request('second', one))).toMatchObject({ blockedBy: 'concurrency' });
        expect(await scripts.acquire(request('second', one))).toMatchObject({ blockedBy: 'concurrency', line: 1, inLine: true });
        // 'first' now waits on a cooldown: a wake would be wasted on it.
        await scripts.feedback({ kind: 'cooldown', currency: 'requests', ms: 60_000 });
        expect(await scripts.acquire(request('first', one))).toMatchObject({ blockedBy: 'cooldown', line: 1, inLine: false });
        await scripts.release([holder.id]);
        await delay(30);
        expect(heard).toEqual(['release:second']);
      });
    });

    it('a process that joins the line with its release is woken by that release when the line was empty', async () => {
      await withHolder(async ({ scripts, holder, heard }) => {
        await scripts.release([holder.id], { clientId: 'holder', priority: 0, lapseMs: 2_000, holdMs: 250 });
        await delay(30);
        expect(heard).toEqual(['release:holder']);
        expect(await scripts.acquire(request('holder', one))).toMatchObject({ granted: true, line: 0 });
      });
    });

    it('a release of a pending start is announced to every process: room in the windows may have freed for anyone', async () => {
      const scripts = fresh();
      const channel = await listen(scripts);
      try {
        const pending = request('a', { settle: false });
        expect(await scripts.acquire(pending)).toMatchObject({ granted: true });
        await scripts.release([pending.id]);
        await delay(50);
        expect(channel.heard).toEqual(['release']);
      } finally {
        channel.close();
      }
    });

    it('through the client: 4 stores on a shared concurrency of 2 ask Redis close to once per grant', async () => {
      const key = `fleet-${++keyCount}`;
      const connections: Redis[] = [];
      const stores: RedisStore[] = [];
      const clients = [0, 1, 2, 3].map(() => {
        const connection = redis.duplicate();
        connections.push(connection);
        const store = new RedisStore({ redis: connection, key });
        stores.push(store);
        return new RateLimitedClient({ concurrency: 2, store });
      });
      try {
        let running = 0;
        let most = 0;
        const task = async () => {
          most = Math.max(most, ++running);
          await delay(2);
          running--;
        };
        const began = performance.now();
        await Promise.all(clients.flatMap((client) => Array.from({ length: 25 }, () => client.schedule(task))));
        const took = performance.now() - began;
        const stats = stores.map((store) => store.stats());
        const acquiresSent = stats.reduce((sum, s) => sum + s.grants + s.refusals - s.syncRefusals, 0);
        const grants = stats.reduce((sum, s) => sum + s.grants, 0);
        console.log(
          `wake-one: ${(acquiresSent / grants).toFixed(2)} acquires sent per grant (4 clients, concurrency 2), ${took.toFixed(0)} ms`,
        );
        expect(most).toBeLessThanOrEqual(2);
        expect(grants).toBe(100);
        // 100 tasks of 2 ms, 2 at a time: 100 ms of work, ~300 ms here with the round trips. A wake lost
        // (a process waiting in line that is never told) costs a lease's lapse, 2 s: the bound is 1.5 s.
        expect(took).toBeLessThan(1_500);
        // Every release used to wake all three others, two of them in vain: about 2.5 per grant.
        expect(acquiresSent / grants).toBeLessThan(1.3);
      } finally {
        await Promise.all(clients.map((client) => client.close()));
        for (const connection of connections) connection.disconnect();
      }
    });
  });

  describe('batches', () => {
    it('grants up to `extra` more starts of the same kind in one answer, as many as every window still has room for', async () => {
      const scripts = fresh();
      const windows = [{ limit: 10, windowMs: 60_000 }];
      expect(await scripts.acquire(request('a', { windows, extra: 3 }))).toMatchObject({ granted: true, extra: 3, used: [4] });
      // 4 taken: the next asks for 1 + 10 and gets 1 + 5.
      const second = request('a', { windows, extra: 10 });
      expect(await scripts.acquire(second)).toMatchObject({ granted: true, extra: 5 });
      expect(await scripts.acquire(request('a', { windows }))).toMatchObject({ granted: false, blockedBy: 'window' });
      // Two of the second batch were not used: given back, their room is free again at once.
      await scripts.cancel([`${second.id}+4`, `${second.id}+5`], 1, 250);
      expect(await scripts.acquire(request('a', { windows, extra: 5 }))).toMatchObject({ granted: true, extra: 1 });
      expect(await scripts.acquire(request('a', { windows }))).toMatchObject({ granted: false });
    });

    it('a batch holds the shared concurrency like single grants, and what is given back frees it', async () => {
      const scripts = fresh();
      const limits = { concurrency: 4, windows: [] };
      const first = request('a', { ...limits, extra: 9 });
      expect(await scripts.acquire(first)).toMatchObject({ granted: true, extra: 3 });
      expect(await scripts.acquire(request('a', limits))).toMatchObject({ granted: false, blockedBy: 'concurrency' });
      await scripts.cancel([`${first.id}+3`], 1, 250);
      expect(await scripts.acquire(request('a', limits))).toMatchObject({ granted: true });
      await scripts.release([first.id, `${first.id}+1`, `${first.id}+2`]);
      expect(await scripts.acquire(request('a', { ...limits, extra: 9 }))).toMatchObject({ granted: true, extra: 2 });
    });

    it('no batch while another process waits, nor for a cost, a bucket, a tenant key or a pending start', async () => {
      const scripts = fresh();
      const one = { concurrency: 1, windows: [] };
      const holder = request('holder', one);
      expect(await scripts.acquire(holder)).toMatchObject({ granted: true });
      expect(await scripts.acquire(request('other', { ...one, priority: 3 }))).toMatchObject({ blockedBy: 'concurrency' });
      await scripts.release([holder.id]);
      // 'other' is in line (woken by that release) and waits with priority 3: there is room for it and
      // for this start, but no batch while it waits.
      expect(await scripts.acquire(request('me', { concurrency: 10, windows: [], extra: 5, priority: 3 }))).toMatchObject({
        granted: true,
        extra: 0,
      });
      const plain = fresh();
      const tokens = [
        { limit: 100, windowMs: 60_000 },
        { limit: 10_000, windowMs: 60_000, counts: 'tokens' },
      ];
      expect(await plain.acquire(request('me', { windows: tokens, cost: { tokens: 5 }, extra: 5 }))).toMatchObject({ extra: 0 });
      expect(await plain.acquire(request('me', { windows: [{ limit: 100, windowMs: 60_000, burst: 50 }], extra: 5 }))).toMatchObject({
        extra: 0,
      });
      expect(await plain.acquire(request('me', { windows: [], settle: false, extra: 5 }))).toMatchObject({ extra: 0 });
      expect(
        await plain.acquire(request('me', { windows: [], extra: 5, key: { name: 'tenant', windows: [{ limit: 100, windowMs: 60_000 }] } })),
      ).toMatchObject({ extra: 0 });
    });

    it('through the client: one process asks Redis once for several queued tasks, and the window stays exact', async () => {
      const key = `fleet-${++keyCount}`;
      const connection = redis.duplicate();
      const store = new RedisStore({ redis: connection, key });
      const client = new RateLimitedClient({ rateLimit: { limit: 20, windowMs: 300 }, concurrency: 100, store });
      try {
        const starts: number[] = [];
        await Promise.all(Array.from({ length: 100 }, () => client.schedule(() => void starts.push(performance.now()))));
        const stats = store.stats();
        const asked = stats.grants + stats.refusals - stats.syncRefusals - stats.batched;
        console.log(`batches: ${stats.batched} of ${stats.grants} grants came in batches; ${asked} acquires sent`);
        expect(starts).toHaveLength(100);
        expect(stats.batched).toBeGreaterThan(50);
        expect(asked).toBeLessThan(40);
        // Never more than 20 in any 300 ms (each start counted from Redis's time, less the margin).
        let most = 0;
        for (const [i, at] of starts.entries()) most = Math.max(most, starts.filter((other, j) => j >= i && other < at + 300 - 25).length);
        expect(most).toBeLessThanOrEqual(20);
        // Nothing left held or counted in Redis once every task has ended.
        await client.close();
        expect(Number(await connection.hget(`rlc:{${key}}:state`, 'held')) || 0).toBe(0);
      } finally {
        await client.close();
        connection.disconnect();
      }
    });

    it('starts a batch granted that the process could not use (its own concurrency was full) are given back', async () => {
      const key = `fleet-${++keyCount}`;
      const connection = redis.duplicate();
      const store = new RedisStore({ redis: connection, key });
      // Two workers here; the store may grant up to 16 at once: 14 of each batch are given back.
      const client = new RateLimitedClient({ rateLimit: { limit: 1_000, windowMs: 60_000 }, concurrency: 100, workers: 2, store });
      try {
        await Promise.all(Array.from({ length: 30 }, () => client.schedule(() => delay(1))));
        await client.close();
        await delay(50);
        expect(store.stats().batched).toBeGreaterThan(0);
        // The window counts the 30 starts only.
        expect(await connection.zcount(`rlc:{${key}}:log`, '-inf', '+inf')).toBe(30);
        expect(Number(await connection.hget(`rlc:{${key}}:state`, 'held')) || 0).toBe(0);
      } finally {
        await client.close();
        connection.disconnect();
      }
    });
  });

  describe('through the client', () => {
    /**
     * An API on 127.0.0.1 answering with `answer`, and two clients on one Redis key (a window of 100 a
     * second, `options` besides); `use` gets them, and everything is closed after it.
     */
    async function twoClientsOnOneKey(
      answer: (response: ServerResponse) => void,
      options: RateLimitedClientOptions,
      use: (a: RateLimitedClient, b: RateLimitedClient) => Promise<void>,
    ): Promise<void> {
      const api = createServer((_request, response) => answer(response));
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
          ...options,
          rateLimit: { limit: 100, windowMs: 1_000 },
          store: new RedisStore({ redis: connection, key }),
        });
      };
      const a = make();
      const b = make();
      try {
        await use(a, b);
      } finally {
        await Promise.all([a.close(), b.close()]);
        for (const connection of connections) connection.disconnect();
        api.close();
      }
    }

    it('a RateLimit-Policy heard by one client tightens the windows of another on the same key', async () => {
      const answer = (response: ServerResponse) => void response.writeHead(200, { 'ratelimit-policy': '5;w=1' }).end('ok');
      await twoClientsOnOneKey(answer, {}, async (a, b) => {
        await b.schedule(() => 'before');
        expect(b.stats().windows).toEqual([expect.objectContaining({ limit: 100, windowMs: 1_000 })]);
        await a.get('/told');
        expect(a.stats().windows).toEqual([expect.objectContaining({ limit: 5, windowMs: 1_000 })]);
        await delay(20);
        // b's next answer from Redis carries the tightened window; b adopts it for the starts after.
        await b.schedule(() => 'after');
        await delay(0);
        expect(b.stats().windows).toEqual([expect.objectContaining({ limit: 5, windowMs: 1_000 })]);
      });
    });

    it('a Retry-After heard by one client holds another on the same key until it ends', async () => {
      // The first request is refused with Retry-After: 1, every later one answered 200.
      const arrivals: number[] = [];
      const answer = (response: ServerResponse) => {
        arrivals.push(performance.now());
        if (arrivals.length === 1) response.writeHead(429, { 'retry-after': '1' }).end();
        else response.writeHead(200).end('ok');
      };
      await twoClientsOnOneKey(answer, { retry: false }, async (a, b) => {
        await expect(a.get('/refused')).rejects.toMatchObject({ status: 429 });
        const heardAt = performance.now();
        // Its word reaches Redis in one round trip; b's next start is held until the second is over.
        await delay(20);
        await expect(b.get('/after')).resolves.toMatchObject({ status: 200 });
        // 1 000 ms from when a heard it, less the time its answer took to reach a and the word Redis.
        expect((arrivals[1] ?? 0) - heardAt).toBeGreaterThan(950);
      });
    });
  });
});
