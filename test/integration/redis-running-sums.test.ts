/**
 * The running sums that let an acquire read a currency window without reading every live start in it
 * (`sums`, see RedisScripts) must never drift from the spend log they summarise: a sum too low would
 * grant over a limit, one too high would hold work back for nothing.
 *
 * Three RedisScripts on one key, each with windows of its own (one changes them as setLimits would),
 * make random acquires, settles, releases, amends down and up, restamps, outage records and lease
 * expiries on real time, with windows short enough that starts leave them and the log is pruned. After
 * every step each running sum is compared with a full recount of the log above its cursor, and from time
 * to time each process's reported usage with a recount of its windows at the acquire's moment.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisScripts, type AcquireRequest } from '../../src/stores/redis-scripts.js';
import type { Cost } from '../../src/core/cost.js';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { redisTime } from '../support/redis-fixtures.js';

type Window = AcquireRequest['windows'][number];

interface Snapshot {
  /** The sums hash: name to its fields. */
  sums: Map<string, { cursor: number; sum: number; count: number; seen: number }>;
  /** The spend log: member, start, cost. */
  spend: Array<{ member: string; at: number; cost: Record<string, number> }>;
  /** Pending amounts by currency (`p:<currency>` in state). */
  pending: Record<string, number>;
}

function parseCost(text: string): Record<string, number> {
  const cost: Record<string, number> = {};
  for (const part of text.split(',')) {
    const [name, amount] = part.split('=');
    if (name !== undefined && name !== '' && amount !== undefined) cost[name] = Number(amount);
  }
  return cost;
}

describeWithRedis('RedisScripts: running sums of currency windows', () => {
  let server: RedisServer;
  let redis: Redis;
  const extra: Redis[] = [];
  let keyCount = 0;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterEach(() => {
    for (const connection of extra.splice(0)) connection.disconnect();
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  function keysOf(key: string) {
    const prefix = `rlc:{${key}}:`;
    return { spend: `${prefix}spend`, costs: `${prefix}costs`, state: `${prefix}state`, sums: `${prefix}sums` };
  }

  /** The sums, the spend log and the pending amounts, read at one moment (MULTI). */
  async function snapshot(key: string): Promise<Snapshot> {
    const keys = keysOf(key);
    const replies = await redis.multi().hgetall(keys.sums).zrange(keys.spend, 0, -1, 'WITHSCORES').hgetall(keys.state).exec();
    const [sumsRaw, spendRaw, stateRaw] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    }) as [Record<string, string>, string[], Record<string, string>];
    const sums: Snapshot['sums'] = new Map();
    for (const [name, value] of Object.entries(sumsRaw)) {
      const [cursor, sum, count, seen] = value.split(' ').map(Number) as [number, number, number, number];
      sums.set(name, { cursor, sum, count, seen });
    }
    const spend: Snapshot['spend'] = [];
    for (let i = 0; i < spendRaw.length; i += 2) {
      const member = spendRaw[i]!;
      spend.push({ member, at: Number(spendRaw[i + 1]), cost: parseCost(member.slice(member.lastIndexOf('|') + 1)) });
    }
    const pending: Record<string, number> = {};
    for (const [field, value] of Object.entries(stateRaw)) if (field.startsWith('p:')) pending[field.slice(2)] = Number(value);
    return { sums, spend, pending };
  }

  /** What the log holds of `currency` above `cursor`: amount and members. */
  function recount(spend: Snapshot['spend'], currency: string, cursor: number): { sum: number; count: number } {
    let sum = 0;
    let count = 0;
    for (const row of spend) {
      if (row.at > cursor) {
        sum += row.cost[currency] ?? 0;
        count++;
      }
    }
    return { sum, count };
  }

  async function expectSumsExact(key: string, step: string): Promise<Snapshot> {
    const state = await snapshot(key);
    for (const [name, kept] of state.sums) {
      const currency = name.slice(0, name.lastIndexOf('@'));
      expect({ sum: kept.sum, count: kept.count }, `${name} after ${step}`).toEqual(recount(state.spend, currency, kept.cursor));
    }
    return state;
  }

  it('random settles, refunds, increases, restamps, records, expiries and window changes from 3 stores: every sum equals a recount of the log', async () => {
    const key = `sums-${++keyCount}`;
    const connections = [redis, redis.duplicate(), redis.duplicate()];
    extra.push(connections[1]!, connections[2]!);
    const stores = connections.map((connection) => new RedisScripts(connection, key));
    let seed = 20_261_206;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const amount = (most: number) => Math.floor(random() * (most + 1));

    // Each process's windows and margin: B's margin makes its 400 ms window another span than A's; C
    // switches between two sets of windows as setLimits would.
    const A: Window[] = [
      { limit: 1_000, windowMs: 1_000 },
      { limit: 2_000, windowMs: 400, counts: 'tokens' },
      { limit: 8_000, windowMs: 1_500, counts: 'tokens' },
    ];
    const B: Window[] = [
      { limit: 2_000, windowMs: 400, counts: 'tokens' },
      { limit: 150, windowMs: 800, counts: 'points' },
    ];
    const C1: Window[] = [{ limit: 1_500, windowMs: 300, counts: 'tokens' }];
    const C2: Window[] = [
      { limit: 120, windowMs: 600, counts: 'points' },
      { limit: 6_000, windowMs: 1_200, counts: 'tokens' },
    ];
    const processes = [
      { windows: A, margin: 0 },
      { windows: B, margin: 20 },
      { windows: C1, margin: 0 },
    ];

    interface Grant {
      id: string;
      cost: Cost;
      pending: boolean;
    }
    const grants: Grant[] = [];
    let ids = 0;
    const counts: Record<string, number> = {};
    const randomCost = (): Cost => ({ tokens: amount(60), points: amount(4) });

    async function usageCheck(p: number): Promise<void> {
      const { windows, margin } = processes[p]!;
      const before = await redisTime(redis);
      const reply = await stores[p]!.acquire(request(p, { id: `check:${++ids}`, cost: null }));
      const after = await redisTime(redis);
      const state = await snapshot(key);
      windows.forEach((window, i) => {
        if (window.counts === undefined) return;
        const span = window.windowMs + margin;
        const waiting = state.pending[window.counts] ?? 0;
        // The acquire's now lies in [before, after]: what the log held in its window then lies between
        // the recounts at those two moments (a later moment counts no more).
        const least = recount(state.spend, window.counts, after - span).sum + waiting;
        const most = recount(state.spend, window.counts, before - span).sum + waiting;
        expect(reply.used[i], `process ${p}, ${window.counts} per ${window.windowMs} ms`).toBeGreaterThanOrEqual(least);
        expect(reply.used[i], `process ${p}, ${window.counts} per ${window.windowMs} ms`).toBeLessThanOrEqual(most);
      });
      counts.usageChecks = (counts.usageChecks ?? 0) + 1;
    }

    function request(p: number, overrides: Partial<AcquireRequest>): AcquireRequest {
      return {
        id: `${p}:${++ids}`,
        clientId: `client-${p}`,
        weight: 1,
        cost: null,
        settle: true,
        concurrency: Infinity,
        leaseTtlMs: 30_000,
        marginMs: processes[p]!.margin,
        clientTtlMs: 60_000,
        windows: processes[p]!.windows,
        ...overrides,
      };
    }

    async function step(phaseTwo: boolean): Promise<string> {
      const p = Math.floor(random() * 3);
      const store = stores[p]!;
      const roll = random();
      if (!phaseTwo && roll < 0.03) {
        processes[2]!.windows = processes[2]!.windows === C1 ? C2 : C1;
        return 'window change';
      }
      if (roll < 0.005) {
        // The sums lost (evicted, or written by nobody yet): every window is counted again from the log.
        await redis.del(keysOf(key).sums);
        return 'sums deleted';
      }
      if (roll < 0.45) {
        const settle = random() < 0.7;
        // Some pending starts get a lease so short that they land in the log on its expiry (reap).
        const leaseTtlMs = !settle && random() < 0.3 ? 30 + amount(100) : 30_000;
        const cost = randomCost();
        const reply = await store.acquire(request(p, { id: `${p}:${++ids}`, cost, settle, leaseTtlMs }));
        if (reply.granted) {
          grants.push({ id: `${p}:${ids}`, cost, pending: !settle });
          // Within every window its start costs something in (one it costs none of does not hold it back,
          // however full amends and outages left it).
          processes[p]!.windows.forEach((window, i) => {
            const spent = window.counts === undefined ? 1 : (cost[window.counts] ?? 0);
            if (spent > 0)
              expect(reply.used[i]!, `a grant within ${window.counts ?? 'requests'} per ${window.windowMs}`).toBeLessThanOrEqual(
                window.limit,
              );
          });
          counts.granted = (counts.granted ?? 0) + 1;
        } else {
          counts.refused = (counts.refused ?? 0) + 1;
          counts[`by ${reply.blockedBy}`] = (counts[`by ${reply.blockedBy}`] ?? 0) + 1;
        }
        return 'acquire';
      }
      if (roll < 0.6) {
        const pending = grants.filter((grant) => grant.pending);
        if (pending.length === 0) return 'nothing';
        const grant = pick(pending);
        grant.pending = false;
        await (random() < 0.5 ? store.settle([grant.id]) : store.release([grant.id]));
        return 'settle or release';
      }
      const grant = grants.length > 0 ? pick(grants.slice(-40)) : undefined;
      if (grant === undefined) return 'nothing';
      if (roll < 0.7) {
        // Real costs below and above the estimate, in one currency or both.
        const real: Record<string, number> = {};
        for (const [name, estimate] of Object.entries(grant.cost)) {
          real[name] = random() < 0.5 ? Math.floor(random() * (estimate ?? 0)) : (estimate ?? 0) + amount(30);
        }
        await store.amend([{ id: grant.id, estimate: grant.cost, cost: real }]);
        return 'amend';
      }
      if (roll < 0.8) {
        await store.restamp([{ id: grant.id, weight: 1, cost: grant.cost }]);
        return 'restamp';
      }
      if (roll < 0.86) {
        // An outage's starts: some already past, some running or pending, some with an amend's extra.
        const pending = random() < 0.3;
        const id = random() < 0.2 ? grant.id : `${p}:${++ids}`;
        const cost = randomCost();
        if (pending) grants.push({ id, cost, pending });
        await store.record(
          [
            {
              id,
              weight: 1,
              ageMs: pending ? 0 : amount(1_200),
              live: pending || random() < 0.5,
              holds: false,
              pending,
              cost,
              extra: random() < 0.3 ? { tokens: amount(20) } : null,
              extraAgeMs: amount(600),
            },
          ],
          30_000,
        );
        return 'record';
      }
      await usageCheck(p);
      return 'usage check';
    }

    const phase = async (ms: number, phaseTwo: boolean) => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        const what = await step(phaseTwo);
        counts[what] = (counts[what] ?? 0) + 1;
        await expectSumsExact(key, what);
      }
    };
    await phase(3_000, false);
    // C keeps to its second windows for longer than the longest window: its first one is forgotten.
    processes[2]!.windows = C2;
    await phase(2_000, true);
    for (let p = 0; p < 3; p++) await usageCheck(p);
    const { sums } = await expectSumsExact(key, 'the end');
    expect([...sums.keys()].sort()).toEqual(['points@600', 'points@820', 'tokens@1200', 'tokens@1500', 'tokens@400', 'tokens@420']);
    console.info(`running sums: ${JSON.stringify(counts)}`);
    // The run did what it meant to: grants and refusals, and each kind of step.
    expect(counts.granted).toBeGreaterThan(50);
    expect(counts.refused).toBeGreaterThan(0);
    for (const what of ['amend', 'restamp', 'record', 'settle or release', 'window change', 'usage check']) {
      expect(counts[what], what).toBeGreaterThan(0);
    }
  }, 60_000);

  it('a refusal finds the start whose expiry frees enough when more than a page of starts must expire', async () => {
    const key = `sums-${++keyCount}`;
    const scripts = new RedisScripts(redis, key);
    const windows: Window[] = [{ limit: 250, windowMs: 60_000, counts: 'tokens' }];
    const base = {
      clientId: 'client-1',
      weight: 1,
      settle: true,
      concurrency: Infinity,
      leaseTtlMs: 30_000,
      marginMs: 0,
      clientTtlMs: 60_000,
      windows,
    };
    for (let i = 0; i < 250; i++) {
      expect(await scripts.acquire({ ...base, id: `fill:${i}`, cost: { tokens: 1 } })).toMatchObject({ granted: true, used: [i + 1] });
    }
    const starts = await redis.zrange(keysOf(key).spend, 0, -1, 'WITHSCORES');
    const before = await redisTime(redis);
    const refused = await scripts.acquire({ ...base, id: 'big', cost: { tokens: 150 } });
    const after = await redisTime(redis);
    expect(refused).toMatchObject({ granted: false, blockedBy: 'window', used: [250] });
    // 150 tokens need the 150 oldest starts gone: the 150th's expiry.
    const freeing = Number(starts[149 * 2 + 1]) + 60_000;
    expect(refused.waitMs).toBeGreaterThanOrEqual(freeing - after - 1e-3);
    expect(refused.waitMs).toBeLessThanOrEqual(freeing - before + 1e-3);
  });

  it('a sum that disagrees with the log (spend evicted) is counted again, not trusted', async () => {
    const key = `sums-${++keyCount}`;
    const scripts = new RedisScripts(redis, key);
    const windows: Window[] = [{ limit: 100, windowMs: 60_000, counts: 'tokens' }];
    const base = {
      clientId: 'client-1',
      weight: 1,
      settle: true,
      concurrency: Infinity,
      leaseTtlMs: 30_000,
      marginMs: 0,
      clientTtlMs: 60_000,
      windows,
    };
    expect(await scripts.acquire({ ...base, id: 'a', cost: { tokens: 90 } })).toMatchObject({ granted: true, used: [90] });
    await redis.del(keysOf(key).spend, keysOf(key).costs);
    // Trusting the sum would refuse this (90 + 20 > 100) until the sums key expired.
    expect(await scripts.acquire({ ...base, id: 'b', cost: { tokens: 20 } })).toMatchObject({ granted: true, used: [20] });
    await expectSumsExact(key, 'eviction');
  });
});
