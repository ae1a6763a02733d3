/**
 * Regression tests for bugs a review found in RedisStore and the scheduler's async store path (fixed
 * in "Fix six Redis store bugs found in review"). Each failed before its fix; the comments tell the bug.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { RateLimitedClient } from '../../src/index.js';
import { delay, heldTask, now, slot, TIMED_OUT, useRedisServer, within } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

describeWithRedis('RedisStore regressions', () => {
  const redis = useRedisServer();
  const { fixtures, readOnly, writable } = redis;
  const connect = (url?: string) => fixtures.connect(url);
  const client = fixtures.client.bind(fixtures);
  const openStore = fixtures.openStore.bind(fixtures);

  // Finding 1: scheduler.ts #answered remembers an async `Infinity` as a refusal until wake(); in
  // failureMode 'local' that Infinity means "until this process's own work ends", and nothing wakes.
  it("local mode: a task refused with Infinity by an async answer starts once this process's own work ends", async () => {
    const key = `review-${randomUUID()}`;
    const limits = { concurrency: 2, rateLimit: { limit: 100, windowMs: 60_000 } };
    // A second live process: this one's local share of the concurrency is floor(2 / 2) = 1.
    const other = await client({ key }, limits);
    await other.client.schedule(() => 'other');
    const { client: c, errors } = await client({ key, commandTimeoutMs: 200 }, limits);

    const a = heldTask();
    const first = c.schedule(a.task);
    await a.started; // granted by Redis, which reported 2 live clients

    // Redis now answers errors on a live connection: it became a read-only replica (a failover).
    await readOnly();
    const second = c.schedule(() => 'second');
    second.catch(() => {});
    await delay(100); // its acquire failed: the local share is full while `first` runs: Infinity
    expect(errors).toHaveLength(1);

    a.finish();
    await first;
    // Expected: `second` starts now, within this process's share. Actual: it waits for a wake() that
    // never comes.
    const outcome = await within(second, 1_500);
    // Redis is healthy again; still nothing asks it, because the refusal is remembered forever.
    await writable();
    const later = outcome === TIMED_OUT ? await within(second, 1_500) : outcome;
    expect({ whileDown: outcome, afterRecovery: later }).toEqual({ whileDown: 'second', afterRecovery: 'second' });
  });

  // Finding 2: redis.ts earliestWait returns a concurrency refusal's lease expiry (~leaseTtlMs) as a
  // lower bound, so a task with maxWaitMs is refused at once although a release frees room any time.
  it('maxWaitMs is not refused at once because another process holds the shared concurrency', async () => {
    const key = `review-${randomUUID()}`;
    const holder = await client({ key }, { concurrency: 1 });
    const waiter = await client({ key }, { concurrency: 1 });
    const a = heldTask();
    const held = holder.client.schedule(a.task);
    await a.started;

    const queued = waiter.client.schedule(() => 'queued');
    await delay(100); // refused by concurrency: Redis answers the first lease's expiry (~10 s)
    setTimeout(a.finish, 200); // the holder's task ends 200 ms from now
    const bounded = waiter.client.schedule(() => 'bounded', { maxWaitMs: 3_000 });
    bounded.catch(() => {});
    // Expected: it runs after `queued`, well within 3 s. Actual: TimeoutError at once ("the rate limit
    // is full for at least 99xx ms").
    const outcome = await within(
      bounded.catch((error: Error) => `rejected: ${error.message}`),
      3_500,
    );
    await held;
    await queued;
    expect(outcome).toBe('bounded');
  });

  // Finding 3: redis.ts #answerDown ('local') grants from the LocalShare, but nothing of those starts
  // reaches Redis when it comes back: Redis grants a whole fresh window on top of them.
  it("local mode: starts granted locally during an outage still count in Redis's window after it is back", async () => {
    const key = `review-${randomUUID()}`;
    const { client: c } = await client({ key, commandTimeoutMs: 100, safetyMarginMs: 0 }, { rateLimit: { limit: 3, windowMs: 5_000 } });
    const starts: number[] = [];
    const task = () => {
      starts.push(now());
    };

    await readOnly(); // Redis answers errors: 'local' grants this process its share (3: one client)
    await Promise.all([c.schedule(task), c.schedule(task), c.schedule(task)]);
    await writable();
    await delay(150); // past commandTimeoutMs: the next acquire probes Redis, which answers

    const more = Promise.all([c.schedule(task), c.schedule(task), c.schedule(task)]);
    more.catch(() => {});
    await within(more, 1_000);
    const first = starts[0] as number;
    // Expected: at most 3 starts in any 5 s window. Actual: 6 within about 300 ms.
    expect(starts.filter((start) => start < first + 5_000).length).toBeLessThanOrEqual(3);
  });

  // Finding 4: redis.ts #timed drops a late answer once the store is closed (`if (this.#closed)
  // return`), so a late grant's concurrency stays held in Redis until its lease expires.
  it("a grant that comes back after close() does not hold the shared concurrency for the lease's life", async () => {
    const key = `review-${randomUUID()}`;
    const { client: c } = await client({ key, commandTimeoutMs: 100 }, { concurrency: 1 });
    await redis.admin().client('PAUSE', 500, 'ALL');
    // The acquire times out; the local share grants; the task runs; the client closes before Redis answers.
    expect(await c.schedule(() => 'done')).toBe('done');
    await c.close();
    await delay(700); // the pause is over: Redis ran the acquire, granted, and recorded a lease

    const raw = await connect();
    const held = await raw.hget(`rlc:{${key}}:state`, 'held');
    const next = openStore({ redis: raw, key }, { windows: [], concurrency: 1 });
    const wait = await next.store.acquire(slot(), now());
    // Expected: nothing runs anywhere, so nothing is held and the next process is granted at once.
    // Actual: held = 1 and a refusal of ~9.3 s (leaseTtlMs 10 s).
    expect({ held, wait }).toEqual({ held: '0', wait: 0 });
  });

  // Finding 5: redis-scripts.ts SETTLE publishes on the same channel as RELEASE and the subscriber
  // ignores the message: a settle (it never frees concurrency) wakes every process waiting on
  // concurrency, and each one pays a round trip for a certain refusal.
  it('a settle does not wake a process that waits only for shared concurrency', async () => {
    const key = `review-${randomUUID()}`;
    const limits = { windows: [{ limit: 100, windowMs: 60_000 }], concurrency: 1 };
    const holder = openStore({ redis: await connect(), key }, limits);
    const waiter = openStore({ redis: await connect(), key }, limits);
    const pending = slot(1, false); // an HTTP request: its start is settled at its response
    expect(await holder.store.acquire(pending, now())).toBe(0);

    const subscribed = waiter.nextWake();
    const refused = await waiter.store.acquire(slot(), now());
    expect(refused).toBeGreaterThan(0);
    await subscribed;
    expect(await waiter.store.acquire(slot(), now())).toBeGreaterThan(0);
    const wakesBefore = waiter.wakes();
    const tripsBefore = waiter.store.stats().roundTrips;

    holder.store.settle(pending, now()); // the response arrived; the request is still in flight
    await delay(200);
    // What a scheduler does on a wake: ask again.
    const again = waiter.store.acquire(slot(), now());
    expect(typeof again === 'number' ? again : await again).toBeGreaterThan(0);
    // Expected: no wake and no round trip (the refusal by concurrency still stands). Actual: 1 and 1.
    expect({ wakes: waiter.wakes() - wakesBefore, roundTrips: waiter.store.stats().roundTrips - tripsBefore }).toEqual({
      wakes: 0,
      roundTrips: 0,
    });
  });

  // Finding 6: redis.ts usage() returns Redis's usage as of the last acquire reply, forever: stats()
  // shows a full window long after it emptied (MemoryStore shows 0).
  it('stats().windows forgets starts that left the window', async () => {
    const key = `review-${randomUUID()}`;
    const { client: c } = await client({ key, safetyMarginMs: 0 }, { rateLimit: { limit: 5, windowMs: 200 } });
    const memory = new RateLimitedClient({ rateLimit: { limit: 5, windowMs: 200 } });
    for (const each of [c, memory]) await Promise.all([1, 2, 3, 4, 5].map(() => each.schedule(() => 'x')));
    await delay(500);
    expect(memory.stats().windows[0]?.used).toBe(0);
    // Expected 0, as above. Actual 5.
    expect(c.stats().windows[0]?.used).toBe(0);
    await memory.close();
  });
});
