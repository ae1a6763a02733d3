import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { monotonicClock } from '../../src/core/clock.js';
import { StoreError } from '../../src/errors/store-error.js';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore, type RedisStoreOptions } from '../../src/redis.js';
import type { StoreContext, StoreLimits, StoreSlot } from '../../src/core/store.js';
import { isReplyError } from '../../src/stores/redis-connection.js';
import type { RedisClient } from '../../src/stores/redis-like.js';
import { CLIENT_LIBRARIES, type ClientLibrary, connectWith, type TestClient } from '../support/redis-clients.js';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { watchStalls } from '../support/stalls.js';

/** A StoreContext that records what the store tells its client, with promises for the next event. */
function fakeContext(limits: StoreLimits) {
  const wakes: number[] = [];
  const reports: StoreError[] = [];
  let wakeWaiters: Array<() => void> = [];
  let reportWaiters: Array<(error: StoreError) => void> = [];
  const context: StoreContext = {
    limits,
    clock: monotonicClock,
    wake() {
      wakes.push(performance.now());
      const waiters = wakeWaiters;
      wakeWaiters = [];
      for (const resolve of waiters) resolve();
    },
    report(error) {
      reports.push(error);
      const waiters = reportWaiters;
      reportWaiters = [];
      for (const resolve of waiters) resolve(error);
    },
  };
  return {
    context,
    wakes,
    reports,
    nextWake: () => new Promise<void>((resolve) => wakeWaiters.push(resolve)),
    nextReport: () => new Promise<StoreError>((resolve) => reportWaiters.push(resolve)),
  };
}

const slot = (weight = 1, settleAtStart = true, cost: StoreSlot['cost'] = null): StoreSlot => ({
  weight,
  cost,
  settleAtStart,
  storeData: undefined,
});
const now = () => performance.now();
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let server: RedisServer;
/** Clients and stores of the running test, closed after it. */
const clients: TestClient[] = [];
const admins: Redis[] = [];
const stores: RedisStore[] = [];

/**
 * A client of `library` that fails fast and comes back fast (see test/support/redis-clients.ts): no
 * offline queue (commands are refused at once while disconnected, instead of queued), and a
 * reconnection every 50 ms, so a restarted server is seen again at once.
 */
async function connectThrough(library: ClientLibrary): Promise<TestClient> {
  const client = await connectWith(library, server.url);
  clients.push(client);
  return client;
}

/** An ioredis connection for what a test reads or does beside the store, whatever the store's client. */
async function admin(): Promise<Redis> {
  const redis = new Redis(server.url);
  redis.on('error', () => {});
  admins.push(redis);
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

function open(options: Partial<RedisStoreOptions> & { redis: RedisClient }, limits: StoreLimits) {
  const store = new RedisStore({ key: `test-${randomUUID()}`, ...options });
  stores.push(store);
  const fake = fakeContext(limits);
  store.open(fake.context);
  return { store, ...fake };
}

/** Loads the scripts into a fresh server's cache (a first EVALSHA costs a NOSCRIPT and an EVAL). */
async function warmScripts(redis: RedisClient): Promise<void> {
  const { store } = open({ redis }, oneWindow(10, 1_000, 1));
  const s = slot(1, false);
  await store.acquire(s, now());
  store.settle(s, now());
  await Promise.resolve();
  store.release(s, now());
  await store.close();
}

const oneWindow = (limit: number, windowMs: number, concurrency = Infinity): StoreLimits => ({
  windows: [{ limit, windowMs }],
  concurrency,
});

describeWithRedis('RedisStore', () => {
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.stop();
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    for (const client of clients.splice(0)) client.close();
    for (const redis of admins.splice(0)) redis.disconnect();
  });

  // About 3.5 s a library.
  for (const library of CLIENT_LIBRARIES) describe(`through ${library.name}`, () => storeTests(library));
});

function storeTests(library: ClientLibrary): void {
  /** A connected client of this library, for the store: `.redis` is what a user passes. */
  const connection = () => connectThrough(library);
  const connect = async () => (await connection()).redis;

  it('grants with one round trip each, then refuses, then answers from memory without Redis', async () => {
    const redis = await connect();
    await warmScripts(redis);
    const { store } = open({ redis, safetyMarginMs: 0 }, oneWindow(2, 400));
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(store.stats()).toMatchObject({ acquires: 2, grants: 2, roundTrips: 2, down: false });

    const wait = await store.acquire(slot(), now());
    expect(wait).toBeGreaterThan(300);
    expect(wait).toBeLessThanOrEqual(400);
    // The same question again: answered at once, from the refusal, without a round trip.
    const again = store.acquire(slot(), now());
    expect(typeof again).toBe('number');
    expect(again).toBeGreaterThan(0);
    expect(store.earliestWait(slot(), now())).toBeGreaterThan(0);
    expect(store.stats()).toMatchObject({ refusals: 2, syncRefusals: 1, roundTrips: 3 });
    expect(store.usage(now())).toEqual([{ limit: 2, windowMs: 400, counts: 'requests', used: 2 }]);

    await delay((again as number) + 5); // timers can fire about 1 ms early against performance.now()
    expect(store.earliestWait(slot(), now())).toBe(0);
    expect(await store.acquire(slot(), now())).toBe(0);
  });

  it('settles and releases in one batched command per tick', async () => {
    const redis = await connect();
    await warmScripts(redis);
    const key = `test-${randomUUID()}`;
    const { store, reports } = open({ redis, key }, oneWindow(10, 60_000, 5));
    const slots = [slot(1, false), slot(1, false), slot(1, false)];
    for (const s of slots) expect(await store.acquire(s, now())).toBe(0);
    expect(store.stats().roundTrips).toBe(3);
    for (const s of slots) store.settle(s, now());
    for (const s of slots) store.release(s, now());
    await store.close(); // waits for the batches it sent
    // One settle and one release for all three.
    expect(store.stats().roundTrips).toBe(5);
    expect(reports).toEqual([]);
    const raw = await admin();
    expect(await raw.hget(`rlc:{${key}}:state`, 'held')).toBe('0');
    expect(await raw.zcard(`rlc:{${key}}:log`)).toBe(3);
  });

  it('wakes when another store sharing the key releases, and then grants', async () => {
    const redis = await connect();
    const key = `test-${randomUUID()}`;
    const a = open({ redis, key }, oneWindow(100, 60_000, 1));
    const b = open({ redis: await connect(), key }, oneWindow(100, 60_000, 1));
    const held = slot();
    expect(await a.store.acquire(held, now())).toBe(0);

    const subscribed = b.nextWake();
    const wait = await b.store.acquire(slot(), now());
    expect(wait).toBeGreaterThan(0); // the lease's expiry: at most leaseTtlMs
    expect(wait).toBeLessThanOrEqual(10_000);
    expect(typeof b.store.acquire(slot(), now())).toBe('number'); // remembered
    await subscribed; // once subscribed, the store asks again: a release may have come before

    expect(await b.store.acquire(slot(), now())).toBeGreaterThan(0);
    const woken = b.nextWake();
    a.store.settle(held, now());
    a.store.release(held, now());
    await woken;
    expect(await b.store.acquire(slot(), now())).toBe(0);
  });

  it('renews the leases of a long task, and reports a lease that was lost', async () => {
    const redis = await connect();
    const key = `test-${randomUUID()}`;
    const a = open({ redis, key, leaseTtlMs: 300 }, oneWindow(100, 60_000, 1));
    const b = open({ redis, key, leaseTtlMs: 300 }, oneWindow(100, 60_000, 1));
    const long = slot();
    expect(await a.store.acquire(long, now())).toBe(0);
    await delay(1_000); // three lease lifetimes: only renewals keep it
    expect(await b.store.acquire(slot(), now())).toBeGreaterThan(0);
    expect(a.reports).toEqual([]);

    const raw = await admin();
    // Listen first: a renewal answered before the DEL's own reply is read would report unheard.
    const reported = a.nextReport();
    await raw.del(`rlc:{${key}}:leases`, `rlc:{${key}}:info`, `rlc:{${key}}:state`);
    const report = await reported;
    expect(report).toBeInstanceOf(StoreError);
    expect(report.operation).toBe('renew');
    expect(report.message).toMatch(/^Lease .+:1 was lost while its task ran/);
    // Lost once, reported once: its release sends and reports nothing more.
    a.store.release(long, now());
    await a.store.close();
    expect(a.reports).toHaveLength(1);
  });

  it('survives SCRIPT FLUSH', async () => {
    const redis = await connect();
    await warmScripts(redis);
    const { store } = open({ redis }, oneWindow(10, 1_000));
    expect(await store.acquire(slot(), now())).toBe(0);
    await (await admin()).script('FLUSH');
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(store.stats()).toMatchObject({ grants: 2, roundTrips: 3, down: false }); // NOSCRIPT, then EVAL
  });

  it('waits for a client still connecting instead of treating it as down', async () => {
    const client = library.connecting(server.url);
    clients.push(client);
    const { store, reports } = open({ redis: client.redis }, oneWindow(10, 1_000));
    expect(client.ready()).toBe(false);
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(reports).toEqual([]);
  });

  it('counts a client not connected yet as an outage, reported once with how to connect it, until it is connected', async () => {
    const client = library.unconnected(server.url);
    clients.push(client);
    const { store, reports, nextWake } = open({ redis: client.redis }, oneWindow(10, 60_000));
    expect(await store.acquire(slot(), now())).toBe(0); // the local share, at once
    expect(store.stats()).toMatchObject({ down: true, fallbackGrants: 1, roundTrips: 0 });
    expect(reports).toHaveLength(1);
    expect(reports[0]?.operation).toBe('connection');
    expect(reports[0]?.message).toMatch(/not connected \(status `wait`\): connect it .*`await client\.connect\(\)`/);

    const woken = nextWake();
    await client.connect();
    await woken; // its 'ready' ends the outage
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(store.stats()).toMatchObject({ down: false, grants: 2, fallbackGrants: 1 });
    expect(reports).toHaveLength(1);
  });

  it('while Redis is down, local mode grants this process its share, reports once, and recovers', async () => {
    const key = `test-${randomUUID()}`;
    const other = open({ redis: await connect(), key }, oneWindow(4, 60_000));
    expect(await other.store.acquire(slot(), now())).toBe(0);
    const client = await connection();
    const redis = client.redis;
    const { store, reports, nextWake } = open({ redis, key, commandTimeoutMs: 200 }, oneWindow(4, 60_000));
    expect(await store.acquire(slot(), now())).toBe(0); // Redis now reports 2 live clients: a share of 2

    await server.stop();
    await client.until(false);
    expect(await store.acquire(slot(), now())).toBe(0); // its 2nd start of its share of 2
    const refused = await store.acquire(slot(), now());
    expect(refused).toBeGreaterThan(59_000);
    expect(store.usage(now())).toEqual([{ limit: 2, windowMs: 60_000, counts: 'requests', used: 2 }]);
    expect(store.earliestWait(slot(), now())).toBeGreaterThan(59_000);
    expect(store.stats()).toMatchObject({ down: true, fallbackGrants: 1 });
    expect(reports).toHaveLength(1);
    expect(reports[0]?.operation).toBe('connection');
    expect(reports[0]?.message).toMatch(/share of the limits/);

    const woken = nextWake();
    await server.start();
    await woken;
    expect(store.stats().down).toBe(false);
    // A new server: its state is empty, and its script cache too.
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(reports).toHaveLength(1);
  });

  it('while Redis is down, local mode shares the concurrency too and releases its grants locally', async () => {
    const key = `test-${randomUUID()}`;
    const other = open({ redis: await connect(), key }, oneWindow(100, 60_000, 2));
    const first = slot();
    expect(await other.store.acquire(first, now())).toBe(0);
    other.store.release(first, now());
    const client = await connection();
    const redis = client.redis;
    const { store } = open({ redis, key, commandTimeoutMs: 200 }, oneWindow(100, 60_000, 2));
    const fromRedis = slot();
    expect(await store.acquire(fromRedis, now())).toBe(0); // 2 live clients: a concurrency share of 1
    store.release(fromRedis, now());

    await server.stop();
    await client.until(false);
    const local = slot();
    expect(await store.acquire(local, now())).toBe(0);
    expect(await store.acquire(slot(), now())).toBe(Infinity); // until this process's own work ends
    store.release(local, now());
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(store.stats()).toMatchObject({ fallbackGrants: 2, down: true });
    await server.start();
    await client.until(true);
  });

  it('while Redis is down, closed mode holds work until it is back', async () => {
    const client = await connection();
    const redis = client.redis;
    const { store, reports, nextWake } = open({ redis, failureMode: 'closed', commandTimeoutMs: 200 }, oneWindow(10, 1_000));
    await server.stop();
    await client.until(false);
    expect(await store.acquire(slot(), now())).toBe(Infinity);
    expect(await store.acquire(slot(), now())).toBe(Infinity);
    expect(store.earliestWait(slot(), now())).toBe(0);
    expect(reports).toHaveLength(1);

    const woken = nextWake();
    await server.start();
    await woken;
    expect(await store.acquire(slot(), now())).toBe(0);
    expect(store.stats()).toMatchObject({ grants: 1, refusals: 2, fallbackGrants: 0, down: false });
  });

  it('while Redis is down, open mode lets work through, and Redis counts those starts once it is back', async () => {
    const client = await connection();
    const redis = client.redis;
    const { store, reports, nextWake } = open({ redis, failureMode: 'open', commandTimeoutMs: 200 }, oneWindow(1, 60_000, 1));
    await server.stop();
    await client.until(false);
    const slots = [slot(), slot(), slot()];
    for (const s of slots) expect(await store.acquire(s, now())).toBe(0);
    for (const s of slots) {
      store.settle(s, now());
      store.release(s, now());
    }
    expect(reports).toHaveLength(1);
    expect(store.stats()).toMatchObject({ grants: 3, fallbackGrants: 3, roundTrips: 0, down: true });

    const woken = nextWake();
    await server.start();
    await woken;
    // The three starts made during the outage are logged ahead of this acquire: the window (1 per
    // minute) is full in Redis, so nothing more starts.
    expect(await store.acquire(slot(), now())).toBeGreaterThan(0);
    expect(store.stats()).toMatchObject({ grants: 3, down: false });
  });

  it('answers acquires that time out by the failure mode, reports once, and gives back late grants', async () => {
    const redis = await connect();
    const key = `test-${randomUUID()}`;
    const { store, reports, nextWake } = open({ redis, key, commandTimeoutMs: 100 }, oneWindow(10, 60_000, 1));
    const raw = await admin();
    await raw.client('PAUSE', 600, 'ALL');
    const woken = nextWake();
    const stalls = watchStalls();
    const started = now();
    // Three commands in flight fail in the same outage: one report. The first is granted by the local
    // share after commandTimeoutMs; the others wait for its concurrency share (1: one live client).
    const answers = await Promise.all([store.acquire(slot(), now()), store.acquire(slot(), now()), store.acquire(slot(), now())]);
    expect(answers).toEqual([0, Infinity, Infinity]);
    expect(now() - started).toBeLessThan(stalls.allowing(400));
    expect(reports).toHaveLength(1);
    expect(reports[0]?.message).toMatch(/commandTimeoutMs \(100 ms\)/);
    // The late answer says Redis is back; the grant it carried was not used and is given back.
    await woken;
    expect(store.stats().down).toBe(false);
    await store.close(); // waits for the release of the late grant
    expect(await raw.hget(`rlc:{${key}}:state`, 'held')).toBe('0');
  });

  it('treats an error reply as an outage and tries Redis again after commandTimeoutMs', async () => {
    const redis = await connect();
    const key = `test-${randomUUID()}`;
    const { store, reports } = open({ redis, key, commandTimeoutMs: 100 }, oneWindow(10, 60_000));
    const raw = await admin();
    await raw.set(`rlc:{${key}}:state`, 'not a hash');
    expect(await store.acquire(slot(), now())).toBe(0); // local share
    expect(reports).toHaveLength(1);
    expect(reports[0]?.operation).toBe('acquire');
    // The client's own reply error (ioredis: `ReplyError`; node-redis: `ErrorReply`), told from a lost connection.
    expect(reports[0]?.message).toMatch(/^Redis answered an error to acquire .*WRONGTYPE/);
    expect(isReplyError(reports[0]?.cause)).toBe(true);
    await raw.del(`rlc:{${key}}:state`);
    expect(store.acquire(slot(), now())).toBe(0); // still down, no probe yet: answered locally at once
    await delay(120);
    expect(await store.acquire(slot(), now())).toBe(0); // the probe: Redis answers again
    expect(store.stats().down).toBe(false);
    expect(reports).toHaveLength(1);
  });

  it('close() flushes releases, drops its subscriber and leaves the caller client alone', async () => {
    const client = await connection();
    const redis = client.redis;
    const key = `test-${randomUUID()}`;
    const listeners = client.readyListeners();
    const a = open({ redis, key }, oneWindow(100, 60_000, 1));
    const b = open({ redis, key }, oneWindow(100, 60_000, 1));
    expect(client.readyListeners()).toBe(listeners + 2);
    const held = slot();
    expect(await a.store.acquire(held, now())).toBe(0);
    const subscribed = b.nextWake();
    expect(await b.store.acquire(slot(), now())).toBeGreaterThan(0);
    await subscribed;
    const raw = await admin();
    expect(await raw.client('LIST')).toMatch(/cmd=subscribe/);
    a.store.release(held, now());
    await a.store.close();
    await b.store.close();
    expect(client.readyListeners()).toBe(listeners);
    expect(client.ready()).toBe(true);
    expect(await raw.hget(`rlc:{${key}}:state`, 'held')).toBe('0');
    // Only the caller's clients and `raw` are left: the subscriber has gone.
    const list = (await raw.client('LIST')) as string;
    expect(list).not.toMatch(/cmd=(subscribe|unsubscribe)/);
  });

  it('refuses to serve a second client', async () => {
    const { store } = open({ redis: await connect() }, oneWindow(1, 1_000));
    expect(() => store.open(fakeContext(oneWindow(1, 1_000)).context)).toThrow(TypeError);
  });

  describe('shares buckets (GCRA: one number per shape)', () => {
    const bucketOf = (limit: number, windowMs: number, burst: number, counts = 'requests'): StoreLimits => ({
      windows: [{ limit, windowMs, burst, counts }],
      concurrency: Infinity,
    });

    it('keeps a bucket as one number in the state hash, one round trip a grant, and the keys live until it is full again', async () => {
      const redis = await connect();
      await warmScripts(redis);
      const key = `bucket-${randomUUID()}`;
      // 1 a minute, 3 at most: a full refill takes 3 minutes, longer than the keys' minute.
      const { store } = open({ redis, key, safetyMarginMs: 0 }, bucketOf(1, 60_000, 3));
      const trips = store.stats().roundTrips;
      for (let i = 0; i < 3; i++) expect(await store.acquire(slot(), now())).toBe(0);
      expect(store.stats().roundTrips - trips).toBe(3);
      expect(await store.acquire(slot(), now())).toBeGreaterThan(55_000);
      const raw = await admin();
      const fields = await raw.hgetall(`rlc:{${key}}:state`);
      const tat = Number(fields['b:requests:1:60000:3']);
      const [seconds, micros] = (await raw.time()) as unknown[];
      const redisNow = Number(seconds) * 1_000 + Number(micros) / 1_000;
      // Three units taken within the last moments: full again three minutes from now.
      expect(tat - redisNow).toBeGreaterThan(179_000);
      expect(tat - redisNow).toBeLessThanOrEqual(180_000);
      expect(await raw.pttl(`rlc:{${key}}:log`)).toBeGreaterThan(179_000);
      expect(store.usage(now())).toEqual([{ limit: 1, windowMs: 60_000, counts: 'requests', burst: 3, used: 3, level: 0 }]);
    });

    it('a bucket switched to counts the starts its currency made in its windowMs (no new burst), and each shape is its own number', async () => {
      const redis = await connect();
      await warmScripts(redis);
      const key = `bucket-${randomUUID()}`;
      const { store } = open({ redis, key, safetyMarginMs: 0 }, oneWindow(10, 60_000));
      for (let i = 0; i < 3; i++) expect(await store.acquire(slot(), now())).toBe(0);
      // 3 of a burst of 4 already taken by the window's starts: one more, then a unit a minute.
      store.setLimits(bucketOf(1, 60_000, 4), now());
      expect(await store.acquire(slot(), now())).toBe(0);
      expect(await store.acquire(slot(), now())).toBeGreaterThan(55_000);

      // Another process, configured otherwise (burst 10): its own bucket, which also starts with the
      // recent starts taken (4 of 10), and counts every start from then on in both.
      const other = open({ redis, key, safetyMarginMs: 0 }, bucketOf(1, 60_000, 10)).store;
      for (let i = 0; i < 6; i++) expect(await other.acquire(slot(), now())).toBe(0);
      expect(await other.acquire(slot(), now())).toBeGreaterThan(55_000);
      const raw = await admin();
      const fields = await raw.hgetall(`rlc:{${key}}:state`);
      expect(
        Object.keys(fields)
          .filter((field) => field.startsWith('b:'))
          .sort(),
      ).toEqual(['b:requests:1:60000:10', 'b:requests:1:60000:4']);
      // The first bucket saw the other's six starts: 10 units behind, 6 more than its burst (asked by a
      // third store of its shape: the first remembers its own refusal).
      const third = open({ redis, key, safetyMarginMs: 0 }, bucketOf(1, 60_000, 4)).store;
      expect(await third.acquire(slot(), now())).toBeGreaterThan(6 * 60_000);
    });

    it('a client with a bucket through a RedisStore: two processes at 1 per 40 ms never start closer together', async () => {
      const redis = await connect();
      const key = `bucket-${randomUUID()}`;
      const starts: number[] = [];
      const made = [new RedisStore({ redis, key }), new RedisStore({ redis: await connect(), key })];
      const clientsHere = made.map((store) => new RateLimitedClient({ store, rateLimit: { limit: 25, windowMs: 1_000, burst: 1 } }));
      try {
        await Promise.all(clientsHere.flatMap((client) => Array.from({ length: 5 }, () => client.schedule(() => starts.push(now())))));
        const sorted = [...starts].sort((x, y) => x - y);
        for (let i = 1; i < sorted.length; i++) expect((sorted[i] as number) - (sorted[i - 1] as number)).toBeGreaterThanOrEqual(39);
      } finally {
        for (const client of clientsHere) await client.close({ drain: false });
      }
    });
  });
}

const fakeRedis = { evalsha() {}, eval() {}, duplicate() {}, on() {}, off() {}, status: 'ready' };

it.each([
  [{ redis: undefined }, TypeError, /`redis` to be a Redis client: ioredis 5 or 6 or iovalkey .* node-redis .*got `undefined`/],
  [
    { redis: { get() {} } },
    TypeError,
    /`redis` to be a Redis client.*got an object with neither ioredis's `evalsha` nor node-redis's `evalSha`/,
  ],
  [{ key: '' }, RangeError, /`key` to be a non-empty string/],
  [{ key: 'a{b}' }, TypeError, /`key` .*hash tag\), got `"a\{b\}"` \(string\)/],
  [{ key: 'a}b' }, TypeError, /`key` .*got `"a\}b"` \(string\)/],
  [{ key: 7 }, TypeError, /`key` .*got `7` \(number\)/],
  [{ failureMode: 'fail' }, RangeError, /`failureMode` to be one of 'local', 'closed', 'open', got `"fail"`/],
  [{ failureMode: 1 }, TypeError, /`failureMode`/],
  [{ safetyMarginMs: -1 }, RangeError, /`safetyMarginMs` to be a finite number >= 0, got `-1` \(number\)/],
  [{ safetyMarginMs: Infinity }, RangeError, /`safetyMarginMs`/],
  [{ safetyMarginMs: '5' }, TypeError, /`safetyMarginMs`/],
  [{ leaseTtlMs: 0 }, RangeError, /`leaseTtlMs` to be an integer >= 1, got `0`/],
  [{ leaseTtlMs: 1.5 }, RangeError, /`leaseTtlMs`/],
  [{ commandTimeoutMs: 0 }, RangeError, /`commandTimeoutMs` to be a finite number > 0/],
  [{ commandTimeoutMs: Infinity }, RangeError, /`commandTimeoutMs`/],
  [{ clientTtlMs: -5 }, RangeError, /`clientTtlMs` to be an integer >= 1/],
  [{ keyy: 'x' }, TypeError, /Unknown option `keyy`/],
])('RedisStore refuses %o', (bad, Kind, message) => {
  const options = { redis: fakeRedis, key: 'k', ...bad } as unknown as RedisStoreOptions;
  expect(() => new RedisStore(options)).toThrow(Kind);
  expect(() => new RedisStore(options)).toThrow(message);
});

it('RedisStore refuses a non-object', () => {
  expect(() => new RedisStore(undefined as unknown as RedisStoreOptions)).toThrow(/`options` to be an object/);
});
