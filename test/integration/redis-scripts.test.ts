import { once } from 'node:events';
// The named export: under NodeNext, TypeScript types the default import of this CommonJS package as its
// whole module object, so `import Redis from 'ioredis'` does not typecheck (it does run).
import { Redis, type Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { RedisLike } from '../../src/stores/redis-like.js';
import { RedisScripts } from '../../src/stores/redis-scripts.js';
import { describeWithRedis, startRedis, type RedisServer } from '../support/redis-server.js';
import { acquireRequest, redisTime } from '../support/redis-fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Scores and waits are doubles of ms since 1970 (~1.8e12) with microseconds: their last bit is about
 * 2.4e-4 ms, so a sum of three of them may be off by that much. Comparisons allow 1e-3 ms.
 */
const EPSILON = 1e-3;

describe('RedisLike', () => {
  it('is met by an ioredis Redis and Cluster (checked by tsc)', () => {
    expectTypeOf<Redis>().toExtend<RedisLike>();
    expectTypeOf<Cluster>().toExtend<RedisLike>();
    expectTypeOf<{ status: string }>().not.toExtend<RedisLike>();
  });
});

describeWithRedis('Redis scripts on a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  /** Connections a test opened; closed after it. */
  const extra: Redis[] = [];
  let keyCount = 0;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  });

  afterEach(() => {
    for (const connection of extra.splice(0)) connection.disconnect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  function connection(): Redis {
    const made = redis.duplicate();
    extra.push(made);
    return made;
  }

  /** A key no other test uses, and its scripts. */
  function fresh(client: Redis = redis): { key: string; scripts: RedisScripts; keys: Record<string, string> } {
    const key = `test-${++keyCount}`;
    const names = ['log', 'leases', 'info', 'state', 'clients', 'spend', 'costs', 'sums'] as const;
    const keys = Object.fromEntries(names.map((name) => [name, `rlc:{${key}}:${name}`]));
    return { key, scripts: new RedisScripts(client, key), keys };
  }

  const request = acquireRequest;

  const serverNow = () => redisTime(redis);

  /**
   * Runs `call` between two readings of Redis's clock on the same connection. Redis runs one command
   * at a time, in order, so the script's `now` lies between them however slow the machine is.
   */
  async function between<T>(call: () => Promise<T>): Promise<{ before: number; result: T; after: number }> {
    const before = await serverNow();
    const result = await call();
    const after = await serverNow();
    return { before, result, after };
  }

  /** `now` is known to lie in [before, after], so `at - now` lies in [at - after, at - before]. */
  function expectUntil(waitMs: number, at: number, span: { before: number; after: number }): void {
    expect(waitMs).toBeGreaterThanOrEqual(at - span.after - EPSILON);
    expect(waitMs).toBeLessThanOrEqual(at - span.before + EPSILON);
  }

  async function score(key: string, member: string): Promise<number> {
    const value = await redis.zscore(key, member);
    if (value === null) throw new Error(`${member} is not in ${key}`);
    return Number(value);
  }

  /** A counter of the state hash; a missing field is 0. */
  async function stateField(key: string, field: string): Promise<number> {
    return Number((await redis.hget(key, field)) ?? 0);
  }

  async function oldestStart(key: string): Promise<number> {
    const [, value] = await redis.zrange(key, 0, 0, 'WITHSCORES');
    return Number(value);
  }

  /** Subscribes a new connection to `channel`; `next()` resolves with the next message. */
  async function subscriber(channel: string): Promise<{ next: () => Promise<string> }> {
    const subscription = connection();
    await subscription.subscribe(channel);
    return {
      // Bounded well below the test timeout, so a missing message fails with its own error. PUBLISH runs
      // inside the script, before its reply; delivery to a local subscriber takes milliseconds.
      next: async () => {
        const timeout = new AbortController();
        const timer = setTimeout(() => timeout.abort(new Error(`no message on ${channel} within 5 s`)), 5_000);
        try {
          const [from, message] = (await once(subscription, 'message', { signal: timeout.signal })) as [string, string];
          expect(from).toBe(channel);
          return message;
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  it('grants up to the limit, then refuses until the first start has left the window and margin', async () => {
    const { scripts, keys } = fresh();
    const limits = { windows: [{ limit: 3, windowMs: 200 }], marginMs: 50 };
    for (let i = 1; i <= 3; i++) {
      expect(await scripts.acquire(request(limits))).toEqual({
        granted: true,
        waitMs: 0,
        blockedBy: null,
        used: [i],
        clients: 1,
        line: 0,
        inLine: false,
        policyVersion: 0,
        extra: 0,
      });
    }
    const first = await oldestStart(keys.log!);
    const refused = await between(() => scripts.acquire(request(limits)));
    expect(refused.result).toMatchObject({ granted: false, blockedBy: 'window', used: [3] });
    // Exact: first start + windowMs + marginMs - now, with now bounded by the clock readings around it.
    expectUntil(refused.result.waitMs, first + 250, refused);

    // Once that wait has passed, the first start no longer counts. +2 ms: Node timers can fire about
    // 1 ms early (nodejs/node#26578), and Node's and Redis's clocks tick apart by under 1 ms more.
    await sleep(refused.result.waitMs + 2);
    expect(await scripts.acquire(request(limits))).toMatchObject({ granted: true, waitMs: 0 });
  });

  it('keeps several windows at once: the longest wait wins', async () => {
    const { scripts, keys } = fresh();
    const windows = [
      { limit: 1, windowMs: 200 },
      { limit: 1, windowMs: 1_000 },
    ];
    expect(await scripts.acquire(request({ windows }))).toMatchObject({ granted: true, used: [1, 1] });
    const start = await oldestStart(keys.log!);
    const refused = await between(() => scripts.acquire(request({ windows })));
    expect(refused.result).toMatchObject({ granted: false, blockedBy: 'window', used: [1, 1] });
    expectUntil(refused.result.waitMs, start + 1_000, refused);
    // The same windows in the other order give the same answer.
    const reversed = await between(() => scripts.acquire(request({ windows: [...windows].reverse() })));
    expectUntil(reversed.result.waitMs, start + 1_000, reversed);

    // With room in the long window, only the short one binds.
    const shortOnly = [
      { limit: 1, windowMs: 200 },
      { limit: 5, windowMs: 1_000 },
    ];
    const short = await between(() => scripts.acquire(request({ windows: shortOnly })));
    expect(short.result).toMatchObject({ granted: false, blockedBy: 'window', used: [1, 1] });
    expectUntil(short.result.waitMs, start + 200, short);
  });

  it('counts weight: a weight-3 grant uses 3 units, and is refused when only 2 are left', async () => {
    const { scripts, keys } = fresh();
    const windows = [{ limit: 5, windowMs: 60_000 }];
    const heavy = request({ windows, weight: 3 });
    expect(await scripts.acquire(heavy)).toMatchObject({ granted: true, used: [3] });
    expect(await redis.zrange(keys.log!, 0, -1)).toEqual([`${heavy.id}#0`, `${heavy.id}#1`, `${heavy.id}#2`]);
    expect(await scripts.acquire(request({ windows, weight: 3 }))).toMatchObject({
      granted: false,
      blockedBy: 'window',
      used: [3],
    });
    expect(await scripts.acquire(request({ windows, weight: 2 }))).toMatchObject({ granted: true, used: [5] });
  });

  it('holds room for a pending start, which does not expire until it is settled', async () => {
    const { scripts, keys } = fresh();
    const windows = [{ limit: 2, windowMs: 100 }];
    const pending = request({ windows, weight: 2, settle: false, leaseTtlMs: 60_000 });
    expect(await scripts.acquire(pending)).toMatchObject({ granted: true, used: [2] });
    expect(await redis.zcard(keys.log!)).toBe(0);
    const expiry = await score(keys.leases!, pending.id);
    const granted = expiry - 60_000;

    const refused = await between(() => scripts.acquire(request({ windows })));
    expect(refused.result).toMatchObject({ granted: false, blockedBy: 'pending', used: [2] });
    // Held by a pending start: ask again when its lease could expire (unless a settle is announced).
    expectUntil(refused.result.waitMs, expiry, refused);

    // Time passing is the point here: after more than the window, the pending start still counts.
    await sleep(150);
    expect((await serverNow()) - granted).toBeGreaterThan(100);
    expect(await scripts.acquire(request({ windows }))).toMatchObject({ granted: false, blockedBy: 'pending' });
    expect(await stateField(keys.state!, 'pending')).toBe(2);
  });

  it('settle records the start at its own time, so the unit expires windowMs after the settle', async () => {
    const { scripts, keys } = fresh();
    const windows = [{ limit: 1, windowMs: 300 }];
    const events = await subscriber(scripts.channel);
    const pending = request({ windows, settle: false });
    await scripts.acquire(pending);
    const granted = (await score(keys.leases!, pending.id)) - pending.leaseTtlMs;
    // Lets the settle time differ visibly from the grant's.
    await sleep(50);

    const message = events.next();
    const settled = await between(() => scripts.settle([pending.id]));
    expect(settled.result).toEqual([]);
    expect(await message).toBe('settle');
    const start = await score(keys.log!, `${pending.id}#0`);
    expect(start).toBeGreaterThanOrEqual(settled.before);
    expect(start).toBeLessThanOrEqual(settled.after);
    expect(start - granted).toBeGreaterThan(40);
    // Settled and holding no concurrency: nothing left to lease.
    expect(await redis.zcard(keys.leases!)).toBe(0);
    expect(await redis.hlen(keys.info!)).toBe(0);
    expect(await stateField(keys.state!, 'pending')).toBe(0);

    const refused = await between(() => scripts.acquire(request({ windows })));
    expect(refused.result).toMatchObject({ granted: false, blockedBy: 'window', used: [1] });
    expectUntil(refused.result.waitMs, start + 300, refused);
  });

  it('release of a pending grant counts it from the release', async () => {
    const { scripts, keys } = fresh();
    const windows = [{ limit: 1, windowMs: 300 }];
    const events = await subscriber(scripts.channel);
    const pending = request({ windows, settle: false });
    await scripts.acquire(pending);
    await sleep(50);

    const message = events.next();
    const released = await between(() => scripts.release([pending.id]));
    expect(released.result).toEqual([]);
    expect(await message).toBe('release');
    const start = await score(keys.log!, `${pending.id}#0`);
    expect(start).toBeGreaterThanOrEqual(released.before);
    expect(start).toBeLessThanOrEqual(released.after);
    expect(await redis.zcard(keys.leases!)).toBe(0);
    expect(await stateField(keys.state!, 'pending')).toBe(0);

    const refused = await between(() => scripts.acquire(request({ windows })));
    expect(refused.result).toMatchObject({ granted: false, blockedBy: 'window', used: [1] });
    expectUntil(refused.result.waitMs, start + 300, refused);
  });

  it('shares concurrency: refused while held, freed by a release that is announced', async () => {
    const { scripts, keys } = fresh();
    const limits = { concurrency: 2, leaseTtlMs: 30_000 };
    const a = request(limits);
    const b = request(limits);
    expect(await scripts.acquire(a)).toMatchObject({ granted: true });
    expect(await scripts.acquire(b)).toMatchObject({ granted: true });
    expect(await stateField(keys.state!, 'held')).toBe(2);

    const refused = await between(() => scripts.acquire(request(limits)));
    expect(refused.result).toMatchObject({ granted: false, blockedBy: 'concurrency', used: [] });
    // No release announced: ask again when the first lease (a's) can expire.
    expectUntil(refused.result.waitMs, await score(keys.leases!, a.id), refused);

    const events = await subscriber(scripts.channel);
    const message = events.next();
    expect(await scripts.release([a.id])).toEqual([]);
    // The process refused is in line for the concurrency: the release wakes it by name.
    expect(await message).toBe('release:client-1');
    expect(await stateField(keys.state!, 'held')).toBe(1);
    expect(await scripts.acquire(request({ ...limits, weight: 2 }))).toMatchObject({
      granted: false,
      blockedBy: 'concurrency',
    });
    expect(await scripts.acquire(request(limits))).toMatchObject({ granted: true });
    // Concurrency blocks before windows, which are still reported (the last grant started just now).
    const both = await scripts.acquire(request({ ...limits, windows: [{ limit: 10, windowMs: 1_000 }] }));
    expect(both).toMatchObject({ granted: false, blockedBy: 'concurrency', used: [1] });
  });

  it('reaps a lease that was not renewed, freeing its concurrency', async () => {
    const { scripts, keys } = fresh();
    const limits = { concurrency: 1, leaseTtlMs: 200 };
    const abandoned = request(limits);
    expect(await scripts.acquire(abandoned)).toMatchObject({ granted: true });
    const refused = await scripts.acquire(request(limits));
    expect(refused).toMatchObject({ granted: false, blockedBy: 'concurrency' });
    expect(refused.waitMs).toBeGreaterThan(0);
    expect(refused.waitMs).toBeLessThanOrEqual(200);

    // The reply says when the lease can expire; +2 ms as in the first test.
    await sleep(refused.waitMs + 2);
    const next = request(limits);
    expect(await scripts.acquire(next)).toMatchObject({ granted: true });
    expect(await stateField(keys.state!, 'held')).toBe(1);
    expect(await redis.zrange(keys.leases!, 0, -1)).toEqual([next.id]);
    expect(await scripts.release([abandoned.id])).toEqual([abandoned.id]);
  });

  it('a pending grant whose lease expires lands in the log at the expiry', async () => {
    const { scripts, keys } = fresh();
    const windows = [{ limit: 1, windowMs: 400 }];
    const pending = request({ windows, settle: false, leaseTtlMs: 150 });
    await scripts.acquire(pending);
    const expiry = await score(keys.leases!, pending.id);

    // Held by a pending start whose lease expires sooner than the window: the window is the bound.
    const refused = await scripts.acquire(request({ windows }));
    expect(refused).toMatchObject({ granted: false, blockedBy: 'pending', waitMs: 400 });

    await sleep(expiry - (await serverNow()) + 2);
    const after = await between(() => scripts.acquire(request({ windows })));
    expect(after.result).toMatchObject({ granted: false, blockedBy: 'window', used: [1] });
    expect(await score(keys.log!, `${pending.id}#0`)).toBe(expiry);
    expectUntil(after.result.waitMs, expiry + 400, after);
    expect(await stateField(keys.state!, 'pending')).toBe(0);
    expect(await scripts.settle([pending.id])).toEqual([pending.id]);
  });

  it('renew keeps a lease alive past its ttl, and reports the ids it lost', async () => {
    const { scripts } = fresh();
    const limits = { concurrency: 1, leaseTtlMs: 300 };
    const kept = request(limits);
    const granted = await between(() => scripts.acquire(kept));
    expect(granted.result.granted).toBe(true);
    // Renewing every 50 ms a lease of 300 ms: only a stall over 250 ms of this machine could lose it.
    while ((await serverNow()) < granted.after + 900) {
      await sleep(50);
      expect(await scripts.renew([kept.id], 300)).toEqual([]);
    }
    // Three times its ttl later, the lease still holds the concurrency.
    expect(await scripts.acquire(request(limits))).toMatchObject({ granted: false, blockedBy: 'concurrency' });
    expect(await scripts.renew([kept.id, 'unknown'], 300)).toEqual(['unknown']);
    expect(await scripts.release([kept.id])).toEqual([]);
    expect(await scripts.renew([kept.id], 300)).toEqual([kept.id]);
  });

  it('reports unknown ids as lost from settle and release', async () => {
    const { scripts } = fresh();
    expect(await scripts.settle(['nobody:1'])).toEqual(['nobody:1']);
    expect(await scripts.release(['nobody:1', 'nobody:2'])).toEqual(['nobody:1', 'nobody:2']);
    const held = request({ concurrency: 1 });
    await scripts.acquire(held);
    expect(await scripts.release([held.id, 'nobody:3'])).toEqual(['nobody:3']);
    expect(await scripts.release([held.id])).toEqual([held.id]);
    // Nothing to ask: no round trip.
    const before = scripts.roundTrips;
    expect(await scripts.settle([])).toEqual([]);
    expect(scripts.roundTrips).toBe(before);
  });

  it('counts distinct live clients', async () => {
    const { scripts } = fresh();
    const as = (clientId: string) => request({ clientId, clientTtlMs: 200 });
    expect((await scripts.acquire(as('a'))).clients).toBe(1);
    expect((await scripts.acquire(as('b'))).clients).toBe(2);
    const last = await between(() => scripts.acquire(as('a')));
    expect(last.result.clients).toBe(2);
    // Time passing is the point: both a and b stop counting 200 ms after their last acquire.
    await sleep(250);
    expect(await serverNow()).toBeGreaterThan(last.after + 200);
    expect((await scripts.acquire(as('c'))).clients).toBe(1);
  });

  it('sends one EVALSHA per acquire', async () => {
    const { scripts } = fresh();
    await scripts.acquire(request()); // loads the script if no test has yet
    const calls = async (command: string) => {
      const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await redis.info('commandstats'));
      return Number(match?.[1] ?? 0);
    };
    const [evalsha, evals, trips] = [await calls('evalsha'), await calls('eval'), scripts.roundTrips];
    await scripts.acquire(request({ windows: [{ limit: 5, windowMs: 1_000 }], concurrency: 3 }));
    expect(scripts.roundTrips - trips).toBe(1);
    expect((await calls('evalsha')) - evalsha).toBe(1);
    expect((await calls('eval')) - evals).toBe(0);
  });

  it('loads a script again after SCRIPT FLUSH (NOSCRIPT, then EVAL)', async () => {
    const { scripts } = fresh();
    await scripts.acquire(request());
    await redis.script('FLUSH');
    const before = scripts.roundTrips;
    expect(await scripts.acquire(request())).toMatchObject({ granted: true });
    expect(scripts.roundTrips - before).toBe(2);
    expect(await scripts.acquire(request())).toMatchObject({ granted: true });
    expect(scripts.roundTrips - before).toBe(3);
  });

  it('gives every key a TTL: at least a minute, or the longest its data may be needed', async () => {
    const { scripts, keys } = fresh();
    // Every key gets written: a settled start (log, and its tokens: spend, costs), holding concurrency
    // (leases, info, state), clients.
    await scripts.acquire(
      request({
        windows: [
          { limit: 10, windowMs: 100_000 },
          { limit: 10, windowMs: 1_000, counts: 'tokens' },
        ],
        cost: { tokens: 1 },
        concurrency: 5,
        leaseTtlMs: 10_000,
        clientTtlMs: 20_000,
      }),
    );
    for (const key of Object.values(keys)) {
      const ttl = await redis.pttl(key);
      // maxWindow + leaseTtl + clientTtl; 5 s below it allows for a very slow machine.
      expect(ttl, key).toBeLessThanOrEqual(130_000);
      expect(ttl, key).toBeGreaterThan(125_000);
    }

    const small = fresh();
    await small.scripts.acquire(
      request({
        windows: [{ limit: 1, windowMs: 1_000, counts: 'tokens' }],
        cost: { tokens: 1 },
        concurrency: 1,
        leaseTtlMs: 1_000,
        clientTtlMs: 1_000,
      }),
    );
    for (const key of Object.values(small.keys)) {
      const ttl = await redis.pttl(key);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
      expect(ttl, key).toBeGreaterThan(55_000);
    }
  });

  it('grants exactly the limit to 200 concurrent acquires from 3 connections', async () => {
    const { key, keys } = fresh();
    const clients = [redis, connection(), connection()].map((client) => new RedisScripts(client, key));
    // A long window: if this slow machine took seconds, no start may leave the window meanwhile.
    const windows = [{ limit: 50, windowMs: 60_000 }];
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => clients[i % 3]!.acquire(request({ clientId: `client-${i % 3}`, windows }))),
    );
    expect(replies.filter((reply) => reply.granted)).toHaveLength(50);
    expect(Math.max(...replies.map((reply) => reply.used[0]!))).toBe(50);
    expect(await redis.zcard(keys.log!)).toBe(50);
  });

  describe('costs in other currencies', () => {
    /** A requests window and a tokens window, both a minute long: nothing leaves them during a test. */
    const windows = [
      { limit: 10, windowMs: 60_000 },
      { limit: 100, windowMs: 60_000, counts: 'tokens' },
    ];

    /** The spend log: each entry's member and start. */
    async function spend(keys: Record<string, string>): Promise<Array<[string, number]>> {
      const flat = await redis.zrange(keys.spend!, 0, -1, 'WITHSCORES');
      const rows: Array<[string, number]> = [];
      for (let i = 0; i < flat.length; i += 2) rows.push([flat[i]!, Number(flat[i + 1])]);
      return rows;
    }

    it('decides against every window of every currency at once, and a start of 0 tokens does not count in tokens', async () => {
      const { scripts, keys } = fresh();
      const first = request({ windows, cost: { tokens: 60 } });
      expect(await scripts.acquire(first)).toMatchObject({ granted: true, used: [1, 60] });
      const [[member, start]] = (await spend(keys)) as [[string, number]];
      expect(member).toBe(`${first.id}|tokens=60`);

      // 50 tokens do not fit beside 60: refused by the tokens window, until the first start leaves it.
      const refused = await between(() => scripts.acquire(request({ windows, cost: { tokens: 50 } })));
      expect(refused.result).toMatchObject({ granted: false, blockedBy: 'window', used: [1, 60] });
      expectUntil(refused.result.waitMs, start + 60_000, refused);
      // 40 do, and then a start that costs no tokens still has room in requests.
      expect(await scripts.acquire(request({ windows, cost: { tokens: 40 } }))).toMatchObject({ granted: true, used: [2, 100] });
      expect(await scripts.acquire(request({ windows }))).toMatchObject({ granted: true, used: [3, 100] });
      expect(await scripts.acquire(request({ windows, cost: { tokens: 0 } }))).toMatchObject({ granted: true, used: [4, 100] });
      expect(await spend(keys)).toHaveLength(2);
      expect(await scripts.acquire(request({ windows, cost: { tokens: 1 } }))).toMatchObject({ granted: false, blockedBy: 'window' });
    });

    it('waits until enough tokens have left the window: the start whose expiry frees them', async () => {
      const { scripts, keys } = fresh();
      const short = [{ limit: 100, windowMs: 400, counts: 'tokens' }];
      for (const tokens of [30, 30, 40]) {
        expect(await scripts.acquire(request({ windows: short, cost: { tokens } }))).toMatchObject({ granted: true });
        // Apart enough that the third start is still in the window when the second has left it.
        await sleep(100);
      }
      const starts = (await spend(keys)).map(([, at]) => at);
      // 50 tokens need 30 + 30 to expire: the second start's expiry.
      const refused = await between(() => scripts.acquire(request({ windows: short, cost: { tokens: 50 } })));
      expect(refused.result).toMatchObject({ granted: false, blockedBy: 'window', used: [100] });
      expectUntil(refused.result.waitMs, starts[1]! + 400, refused);
      await sleep(refused.result.waitMs + 2);
      expect(await scripts.acquire(request({ windows: short, cost: { tokens: 50 } }))).toMatchObject({ granted: true, used: [90] });
    });

    it("holds a pending start's tokens, and settle logs them at the settle", async () => {
      const { scripts, keys } = fresh();
      const pending = request({ windows, settle: false, cost: { tokens: 80 } });
      expect(await scripts.acquire(pending)).toMatchObject({ granted: true, used: [1, 80] });
      expect(await stateField(keys.state!, 'p:tokens')).toBe(80);
      expect(await scripts.acquire(request({ windows, cost: { tokens: 30 } }))).toMatchObject({ granted: false, blockedBy: 'pending' });

      const settled = await between(() => scripts.settle([pending.id]));
      const [[member, start]] = (await spend(keys)) as [[string, number]];
      expect(member).toBe(`${pending.id}|tokens=80`);
      expect(start).toBeGreaterThanOrEqual(settled.before);
      expect(start).toBeLessThanOrEqual(settled.after);
      expect(await stateField(keys.state!, 'p:tokens')).toBe(0);
      expect(await scripts.acquire(request({ windows, cost: { tokens: 30 } }))).toMatchObject({ granted: false, blockedBy: 'window' });
      expect(await scripts.acquire(request({ windows, cost: { tokens: 20 } }))).toMatchObject({ granted: true, used: [2, 100] });
    });

    it("amend down gives tokens back at once, keeps the entry's time, and is announced", async () => {
      const { scripts, keys } = fresh();
      const events = await subscriber(scripts.channel);
      const grant = request({ windows, cost: { tokens: 90 } });
      await scripts.acquire(grant);
      const [[, start]] = (await spend(keys)) as [[string, number]];
      expect(await scripts.acquire(request({ windows, cost: { tokens: 50 } }))).toMatchObject({ granted: false });

      const message = events.next();
      await scripts.amend([{ id: grant.id, estimate: { tokens: 90 }, cost: { tokens: 40 } }]);
      expect(await message).toBe('amend');
      expect(await spend(keys)).toEqual([[`${grant.id}|tokens=40`, start]]);
      expect(await redis.hget(keys.costs!, grant.id)).toBe(`${grant.id}|tokens=40`);
      // The same amend again changes nothing.
      await scripts.amend([{ id: grant.id, estimate: { tokens: 90 }, cost: { tokens: 40 } }]);
      expect(await spend(keys)).toEqual([[`${grant.id}|tokens=40`, start]]);
      expect(await scripts.acquire(request({ windows, cost: { tokens: 60 } }))).toMatchObject({ granted: true, used: [2, 100] });
      // Down to 0: the entry goes.
      await scripts.amend([{ id: grant.id, estimate: { tokens: 40 }, cost: {} }]);
      expect((await spend(keys)).map(([member]) => member)).toEqual([expect.stringMatching(/\|tokens=60$/)]);
      expect(await redis.hexists(keys.costs!, grant.id)).toBe(0);
    });

    it('amend up counts the difference from now, once, as an entry of its own', async () => {
      const { scripts, keys } = fresh();
      const grant = request({ windows, cost: { tokens: 10 } });
      await scripts.acquire(grant);
      const [[, start]] = (await spend(keys)) as [[string, number]];
      await sleep(20);
      const amended = await between(() => scripts.amend([{ id: grant.id, estimate: { tokens: 10 }, cost: { tokens: 70 } }]));
      const rows = await spend(keys);
      expect(rows[0]).toEqual([`${grant.id}|tokens=10`, start]);
      expect(rows[1]![0]).toBe(`${grant.id}+|tokens=60`);
      expect(rows[1]![1]).toBeGreaterThanOrEqual(amended.before);
      expect(rows[1]![1]).toBeLessThanOrEqual(amended.after);
      // Sent twice (a retry after a timeout): counted once.
      await scripts.amend([{ id: grant.id, estimate: { tokens: 10 }, cost: { tokens: 70 } }]);
      expect(await spend(keys)).toHaveLength(2);
      expect(await scripts.acquire(request({ windows, cost: { tokens: 31 } }))).toMatchObject({ granted: false, used: [1, 70] });
      expect(await scripts.acquire(request({ windows, cost: { tokens: 30 } }))).toMatchObject({ granted: true, used: [2, 100] });
    });

    it('amends a pending start (it logs less, or the more from now), a released one, and one whose entry is gone', async () => {
      const { scripts, keys } = fresh();
      const pending = request({ windows, settle: false, cost: { tokens: 50, points: 5 } });
      const both = [...windows, { limit: 10, windowMs: 60_000, counts: 'points' }];
      expect(await scripts.acquire({ ...pending, windows: both })).toMatchObject({ granted: true, used: [1, 50, 5] });
      await scripts.amend([{ id: pending.id, estimate: pending.cost, cost: { tokens: 20, points: 7 } }]);
      expect(await stateField(keys.state!, 'p:tokens')).toBe(20);
      expect(await stateField(keys.state!, 'p:points')).toBe(5);
      expect((await spend(keys)).map(([member]) => member)).toEqual([`${pending.id}+|points=2`]);
      expect(await scripts.acquire(request({ windows: both }))).toMatchObject({ granted: true, used: [2, 20, 7] });
      expect(await scripts.release([pending.id])).toEqual([]);
      expect(await stateField(keys.state!, 'p:tokens')).toBe(0);
      expect((await spend(keys)).map(([member]) => member).sort()).toEqual([`${pending.id}+|points=2`, `${pending.id}|points=5,tokens=20`]);

      // Released, then amended: its logged entry is lowered.
      const released = request({ windows, settle: false, cost: { tokens: 30 } });
      await scripts.acquire(released);
      await scripts.release([released.id]);
      await scripts.amend([{ id: released.id, estimate: released.cost, cost: { tokens: 5 } }]);
      expect(await redis.hget(keys.costs!, released.id)).toBe(`${released.id}|tokens=5`);

      // Gone from the log (expired): nothing to give back, and more counts against the estimate.
      await scripts.amend([{ id: 'client-1:unknown', estimate: { tokens: 10 }, cost: { tokens: 25 } }]);
      expect(await redis.hget(keys.costs!, 'client-1:unknown+')).toBe('client-1:unknown+|tokens=15');
    });

    it('amends a start whose spend entry was evicted with its key, while its lookup in costs survived: as one gone', async () => {
      const { scripts, keys } = fresh();
      const lower = request({ windows, cost: { tokens: 40 } });
      const higher = request({ windows, cost: { tokens: 10 } });
      await scripts.acquire(lower);
      await scripts.acquire(higher);
      // Under maxmemory with an eviction policy, Redis may drop one key of the store and keep the others.
      await redis.del(keys.spend!);
      expect(await redis.hexists(keys.costs!, lower.id)).toBe(1);

      // Refused with an error, the amend would be taken for an outage and sent again for ever.
      await expect(
        scripts.amend([
          { id: lower.id, estimate: lower.cost, cost: { tokens: 5 } },
          { id: higher.id, estimate: higher.cost, cost: { tokens: 30 } },
        ]),
      ).resolves.toBeUndefined();
      // Nothing to give back; more counts against the estimate, from now. The stale lookups are dropped.
      expect((await spend(keys)).map(([member]) => member)).toEqual([`${higher.id}+|tokens=20`]);
      expect(await redis.hexists(keys.costs!, lower.id)).toBe(0);
      expect(await redis.hexists(keys.costs!, higher.id)).toBe(0);
      expect(await scripts.acquire(request({ windows, cost: { tokens: 80 } }))).toMatchObject({ granted: true, used: [3, 100] });
    });

    it("restamp moves a start's tokens with its units; record logs a start's cost and what an amend added", async () => {
      const { scripts, keys } = fresh();
      const grant = request({ windows, cost: { tokens: 10 } });
      await scripts.acquire(grant);
      await sleep(20);
      const moved = await between(() => scripts.restamp([{ id: grant.id, weight: 1, cost: grant.cost }]));
      const [[, at]] = (await spend(keys)) as [[string, number]];
      expect(at).toBeGreaterThanOrEqual(moved.before);
      expect(at).toBeLessThanOrEqual(moved.after);
      expect(await score(keys.log!, `${grant.id}#0`)).toBe(at);

      const recorded = await between(() =>
        scripts.record(
          [
            {
              id: 'x:1',
              weight: 1,
              ageMs: 500,
              live: false,
              holds: false,
              pending: false,
              cost: { tokens: 7 },
              extra: { tokens: 3 },
              extraAgeMs: 100,
            },
            { id: 'x:2', weight: 2, ageMs: 0, live: true, holds: false, pending: true, cost: { tokens: 9 }, extra: null, extraAgeMs: 0 },
          ],
          30_000,
        ),
      );
      const byMember = Object.fromEntries(await spend(keys));
      expect(byMember['x:1|tokens=7']).toBeGreaterThanOrEqual(recorded.before - 500 - EPSILON);
      expect(byMember['x:1|tokens=7']).toBeLessThanOrEqual(recorded.after - 500 + EPSILON);
      expect(byMember['x:1+|tokens=3']).toBeGreaterThanOrEqual(recorded.before - 100 - EPSILON);
      expect(byMember['x:1+|tokens=3']).toBeLessThanOrEqual(recorded.after - 100 + EPSILON);
      expect(await stateField(keys.state!, 'p:tokens')).toBe(9);
      expect(await redis.hget(keys.info!, 'x:2')).toBe('2:01|tokens=9');
      expect(await scripts.settle(['x:2'])).toEqual([]);
      expect(await redis.hget(keys.costs!, 'x:2')).toBe('x:2|tokens=9');
    });

    it('forgets the tokens of starts older than every window, with their lookup', async () => {
      const { scripts, keys } = fresh();
      const short = [{ limit: 100, windowMs: 50, counts: 'tokens' }];
      await scripts.acquire(request({ windows: short, cost: { tokens: 10 } }));
      await sleep(70);
      await scripts.acquire(request({ windows: short, cost: { tokens: 20 } }));
      expect((await spend(keys)).map(([member]) => member)).toEqual([expect.stringMatching(/\|tokens=20$/)]);
      expect(await redis.hlen(keys.costs!)).toBe(1);
    });
  });

  it('answers after a restart, with its scripts and data gone', async () => {
    const { scripts } = fresh();
    const windows = [{ limit: 1, windowMs: 60_000 }];
    expect(await scripts.acquire(request({ windows }))).toMatchObject({ granted: true });
    expect(await scripts.acquire(request({ windows }))).toMatchObject({ granted: false });

    // ioredis reconnects by itself: wait for the connection to close and come back.
    const reconnected = new Promise<void>((resolve) => {
      redis.once('close', () => redis.once('ready', () => resolve()));
    });
    await server.restart();
    await reconnected;

    const before = scripts.roundTrips;
    expect(await scripts.acquire(request({ windows }))).toMatchObject({ granted: true, used: [1] });
    expect(scripts.roundTrips - before).toBe(2);
  });
});
