/**
 * Tenant keys in a RedisStore, on a real redis-server, driven through the LimiterStore interface: a
 * keyed slot must fit its key's windows and the client's at once; each side's refusal says which it was;
 * a grant, a settle, a release and an amend change both; a key's state lives in Redis as long as its
 * longest window, under the store's hash tag whatever the tenant key holds.
 */
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import type { RateWindow } from '../../src/core/options.js';
import type { StoreLimits, StoreSlot } from '../../src/core/store.js';
import { RedisScripts } from '../../src/stores/redis-scripts.js';
import { delay, now, useRedisServer } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

const MARGIN = 10;

/**
 * What Redis Cluster hashes of a key: the text between its first `{` and the first `}` after it, if
 * that is not empty; else the whole key (the rule of the Cluster specification, "Hash tags").
 */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close < 0 || close === open + 1 ? key : key.slice(open + 1, close);
}

function keyed(key: string, weight = 1, settleAtStart = true, cost: StoreSlot['cost'] = null): StoreSlot {
  return { weight, cost, settleAtStart, storeData: undefined, key };
}

/** Waits for the batched settles, releases and amends (fire-and-forget, sent in the next microtask) to reach Redis. */
async function written(redis: Redis): Promise<void> {
  await delay(5);
  await redis.ping();
}

describeWithRedis('RedisStore: tenant keys', () => {
  const { fixtures, admin } = useRedisServer();
  let keys = 0;
  const nextKey = () => `keys-${process.pid}-${++keys}`;

  async function open(clientWindows: RateWindow[], options: { concurrency?: number } = {}) {
    const key = nextKey();
    const redis = await fixtures.connect();
    const limits: StoreLimits = { windows: clientWindows, concurrency: options.concurrency ?? Infinity };
    const opened = fixtures.openStore({ redis, key, safetyMarginMs: MARGIN }, limits);
    const scripts = new RedisScripts(admin(), key);
    return { ...opened, key, redis, tenant: (name: string) => scripts.tenantKeys(name) };
  }

  it("refuses by the key's windows with refusedByKey true, by the client's with false; another key is not held back", async () => {
    const { store } = await open([{ limit: 3, windowMs: 2_000 }]);
    const perKey = [{ limit: 2, windowMs: 2_000 }];
    for (const name of ['a', 'b']) store.setKeyLimits(name, perKey, now());

    const first = [keyed('a'), keyed('a')];
    for (const slot of first) expect(await store.acquire(slot, now())).toBe(0);
    expect(first.map((slot) => slot.refusedByKey)).toEqual([false, false]);

    const third = keyed('a');
    const wait = await store.acquire(third, now());
    expect(wait).toBeGreaterThan(1_000);
    expect(third.refusedByKey).toBe(true);

    // Key b has room of its own, and the client one unit left.
    const other = keyed('b');
    expect(await store.acquire(other, now())).toBe(0);
    expect(other.refusedByKey).toBe(false);

    // Now the client's window is full: b's own windows have room, the client's refuse.
    const byClient = keyed('b');
    expect(await store.acquire(byClient, now())).toBeGreaterThan(1_000);
    expect(byClient.refusedByKey).toBe(false);
    expect(store.keyUsage('a', now())).toEqual([{ limit: 2, windowMs: 2_000, counts: 'requests', used: 2 }]);
    expect(store.usage(now())[0]?.used).toBe(3);
  });

  it("a grant takes room in the key's counters and the client's; settle and release of a pending start land in both", async () => {
    const { store, tenant, key } = await open([{ limit: 10, windowMs: 2_000 }]);
    const raw = admin();
    store.setKeyLimits('shop', [{ limit: 5, windowMs: 2_000 }], now());
    const [log, state] = tenant('shop');

    const atOnce = keyed('shop');
    expect(await store.acquire(atOnce, now())).toBe(0);
    expect(await raw.zcard(`rlc:{${key}}:log`)).toBe(1);
    expect(await raw.zcard(log as string)).toBe(1);

    const settled = keyed('shop', 2, false);
    const released = keyed('shop', 1, false);
    expect(await store.acquire(settled, now())).toBe(0);
    expect(await store.acquire(released, now())).toBe(0);
    // Pending: held in both, logged in neither.
    expect(await raw.hget(state as string, 'pending')).toBe('3');
    expect(await raw.hget(`rlc:{${key}}:state`, 'pending')).toBe('3');
    expect(await raw.zcard(log as string)).toBe(1);
    expect(store.keyUsage('shop', now())[0]?.used).toBe(4);

    store.settle(settled, now());
    store.release(released, now());
    await written(raw);
    expect(await raw.hget(state as string, 'pending')).toBe('0');
    expect(await raw.zcard(log as string)).toBe(4);
    expect(await raw.zcard(`rlc:{${key}}:log`)).toBe(4);
    expect(await raw.hkeys(state as string)).not.toContain(expect.stringMatching(/^g:/));

    // 4 of the key's 5 are taken: a start of weight 2 is refused by the key, one of weight 1 fits.
    const heavy = keyed('shop', 2);
    expect(await store.acquire(heavy, now())).toBeGreaterThan(0);
    expect(heavy.refusedByKey).toBe(true);
    expect(await store.acquire(keyed('shop'), now())).toBe(0);
  });

  it("an amend counts the real cost in the key's currency windows and the client's: a refund frees room in both", async () => {
    const tokens = (limit: number): RateWindow => ({ limit, windowMs: 2_000, counts: 'tokens' });
    const { store, tenant, key } = await open([{ limit: 100, windowMs: 2_000 }, tokens(10_000)]);
    const raw = admin();
    store.setKeyLimits('acct', [tokens(1_000)], now());

    const first = keyed('acct', 1, true, { tokens: 900 });
    expect(await store.acquire(first, now())).toBe(0);
    const refused = keyed('acct', 1, true, { tokens: 500 });
    expect(await store.acquire(refused, now())).toBeGreaterThan(0);
    expect(refused.refusedByKey).toBe(true);

    store.settle(first, now());
    store.amend(first, { tokens: 300 }, now());
    await written(raw);
    const [, , spend] = tenant('acct');
    expect(await raw.zrange(spend as string, 0, -1)).toEqual([expect.stringMatching(/\|tokens=300$/)]);
    expect(await raw.zrange(`rlc:{${key}}:spend`, 0, -1)).toEqual([expect.stringMatching(/\|tokens=300$/)]);

    const again = keyed('acct', 1, true, { tokens: 500 });
    expect(await store.acquire(again, now())).toBe(0);
    // An amend above the estimate counts the difference in both.
    store.settle(again, now());
    store.amend(again, { tokens: 650 }, now());
    await written(raw);
    expect(store.keyUsage('acct', now())).toEqual([{ limit: 1_000, windowMs: 2_000, counts: 'tokens', used: 800 }]);
    const over = keyed('acct', 1, true, { tokens: 100 });
    expect(await store.acquire(over, now())).toBeGreaterThan(0);
    expect(over.refusedByKey).toBe(true);
    expect(store.keyUsage('acct', now())[0]?.used).toBe(950);
  });

  it("a key's state expires with its longest window; the client's does not go with it", async () => {
    const { store, tenant, key } = await open([{ limit: 100, windowMs: 60_000 }]);
    const raw = admin();
    const windowMs = 300;
    store.setKeyLimits('idle', [{ limit: 5, windowMs }], now());
    const slot = keyed('idle');
    expect(await store.acquire(slot, now())).toBe(0);
    store.release(slot, now());
    await written(raw);

    const [log, state] = tenant('idle');
    const ttl = await raw.pttl(log as string);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(windowMs + MARGIN);
    expect(await raw.pttl(state as string)).toBeLessThanOrEqual(windowMs + MARGIN);
    await delay(windowMs + MARGIN + 50);
    expect(await raw.exists(...tenant('idle'))).toBe(0);
    expect(await raw.exists(`rlc:{${key}}:log`)).toBe(1);
  });

  it('a pending start keeps its key alive for its lease; one whose lease expired (its process died) lands in the key when the key is next asked', async () => {
    const key = nextKey();
    const scripts = new RedisScripts(admin(), key);
    const raw = admin();
    const windows = [{ limit: 2, windowMs: 200 }];
    const request = (id: string, settle: boolean) => ({
      id,
      clientId: 'crashed',
      weight: 1,
      cost: null,
      settle,
      concurrency: Infinity,
      leaseTtlMs: 300,
      marginMs: 0,
      clientTtlMs: 1_000,
      windows: [],
      key: { name: 'k', windows },
    });
    expect(await scripts.acquire(request('dead:1', false))).toMatchObject({ granted: true, byKey: false, keyUsed: [1] });
    const [log, state] = scripts.tenantKeys('k');
    // Its lease (300 ms) outlives the window (200 ms): so does the key's state.
    expect(await raw.pttl(state as string)).toBeGreaterThan(200);
    expect(await raw.hget(state as string, 'g:dead:1')).toBe('1|');
    await delay(350);
    // The lease expired: the next acquire about the key finds the start and counts it from now.
    expect(await scripts.acquire(request('live:1', true))).toMatchObject({ granted: true, keyUsed: [2] });
    expect(Number(await raw.hget(state as string, 'pending'))).toBe(0);
    expect(await raw.hexists(state as string, 'g:dead:1')).toBe(0);
    expect(await raw.zcard(log as string)).toBe(2);
    expect(await scripts.acquire(request('live:2', true))).toMatchObject({ granted: false, byKey: true, blockedBy: 'window' });
  });

  it('tenant keys with braces, colons, unicode or 256 characters: their own counters, in the store key hash slot', async () => {
    const { store, tenant, key } = await open([{ limit: 1_000, windowMs: 5_000 }]);
    const raw = admin();
    const names = ['{x}', 'x', '}{', 'a:log', 'a', 'a:log:state', 'k:a', 'ключ-🔑-鍵', 'z'.repeat(256), '{', '}'];
    for (const name of names) store.setKeyLimits(name, [{ limit: 1, windowMs: 5_000 }], now());

    for (const name of names) {
      const slot = keyed(name);
      expect(await store.acquire(slot, now()), name).toBe(0);
      for (const redisKey of tenant(name)) expect(hashTag(redisKey), redisKey).toBe(key);
    }
    // Every key's window is full, each of its own: no tenant shared another's counters.
    for (const name of names) {
      const slot = keyed(name);
      expect(await store.acquire(slot, now()), name).toBeGreaterThan(0);
      expect(slot.refusedByKey, name).toBe(true);
      expect(await raw.zcard(tenant(name)[0] as string), name).toBe(1);
    }
    const all = new Set(names.flatMap((name) => tenant(name)));
    expect(all.size).toBe(names.length * 5);
    expect(await raw.zcard(`rlc:{${key}}:log`)).toBe(names.length);
  });

  it("while Redis is down ('local'), a keyed slot is held to its key's windows as this process knows them", async () => {
    const { store } = await open([{ limit: 100, windowMs: 5_000 }]);
    store.setKeyLimits('local', [{ limit: 2, windowMs: 5_000 }], now());
    const early = keyed('local');
    expect(await store.acquire(early, now())).toBe(0);
    store.release(early, now());
    await admin().call('REPLICAOF', '127.0.0.1', '1');
    // The first write after the change fails: Redis counts as down, the local share answers from then on.
    const answers: number[] = [];
    const slots: StoreSlot[] = [];
    for (let i = 0; i < 4; i++) {
      const slot = keyed('local');
      slots.push(slot);
      answers.push(await store.acquire(slot, now()));
    }
    expect(store.stats().down).toBe(true);
    // One unit was taken through Redis before the outage, one more fits: the rest wait for the key.
    expect(answers.filter((wait) => wait === 0)).toHaveLength(1);
    expect(slots.filter((slot) => slot.refusedByKey === true).length).toBeGreaterThanOrEqual(2);
    expect(store.keyUsage('local', now())[0]).toMatchObject({ limit: 2, used: 2 });
    const otherKey = keyed('other');
    store.setKeyLimits('other', [{ limit: 2, windowMs: 5_000 }], now());
    expect(await store.acquire(otherKey, now())).toBe(0);
  });
});
