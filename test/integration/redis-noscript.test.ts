/**
 * Regression tests for false "Lease … was lost" reports after Redis lost its script cache (a fresh
 * server, a restart, SCRIPT FLUSH). Commands go out pipelined on one connection; one answered NOSCRIPT
 * is sent again as EVAL after the commands behind it, so Redis can run a grant's release (its script
 * already loaded) before that grant's settle or renew. The comments tell the bug.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { RedisStore, type RedisLike } from '../../src/redis.js';
import { fakeContext, now, slot, useRedisServer } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

describeWithRedis('RedisStore after Redis lost its scripts (NOSCRIPT)', () => {
  const redis = useRedisServer();
  const { fixtures } = redis;

  // redis-scripts.ts #run: the settle (script not loaded) is answered NOSCRIPT and sent again as EVAL,
  // after the same request's release (script loaded), which Redis runs first; redis.ts #lost took the
  // settle's "gone" for a lost lease. Found by an example on a fresh Redis, confirmed with MONITOR.
  it("an HTTP request's settle overtaken by its release is not reported as a lost lease", async () => {
    const server = http.createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await redis.admin().script('FLUSH');
      // A schedule() task loads the acquire and release scripts, not the settle one.
      const warm = await fixtures.client({ key: `noscript-${randomUUID()}` }, { concurrency: 5 });
      await warm.client.schedule(async () => {});
      await warm.client.close();

      const key = `noscript-${randomUUID()}`;
      const { client, store, errors } = await fixtures.client({ key }, { baseUrl, concurrency: 5 });
      expect(await (await client.get('/x')).text()).toBe('ok');
      await client.close(); // waits for the settle and the release to be answered
      // Expected: no report. Actual: "Lease …:1 was lost before its start was recorded: Redis counted
      // the start when the lease expired".
      expect(errors.map(String)).toEqual([]);
      // Whichever ran first, the start is logged once and nothing is left held or pending.
      const admin = redis.admin();
      expect({
        logged: await admin.zcard(`rlc:{${key}}:log`),
        leases: await admin.zcard(`rlc:{${key}}:leases`),
        // A field Redis dropped counts as 0.
        state: (await admin.hmget(`rlc:{${key}}:state`, 'held', 'pending')).map(Number),
        down: store.stats().down,
      }).toEqual({ logged: 1, leases: 0, state: [0, 0], down: false });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  // The same for a renewal: the renew (script not loaded) is sent again after the settle that ends a
  // lease holding no concurrency (script loaded), finds nothing, and was reported as "lost while its
  // task ran".
  it('a renewal overtaken by the settle that ends its lease is not reported as a lost lease', async () => {
    await redis.admin().script('FLUSH');
    // Loads the acquire and settle scripts, not the renew one.
    const warm = new RedisStore({ redis: await fixtures.connect(), key: `noscript-${randomUUID()}` });
    warm.open(fakeContext(limits).context);
    const warmed = slot(1, false);
    await warm.acquire(warmed, now());
    warm.settle(warmed, now());
    await warm.close();

    const watched = watchRenewals(await fixtures.connect());
    const store = new RedisStore({ redis: watched.redis, key: `noscript-${randomUUID()}`, leaseTtlMs: 300 });
    const { context, reports } = fakeContext(limits);
    store.open(context);
    try {
      const request = slot(1, false); // an HTTP request: pending until its response headers
      expect(await store.acquire(request, now())).toBe(0);
      // The response arrives while the first renewal is on its way: its settle goes out behind it.
      await watched.nextRenewal();
      store.settle(request, now());
      await watched.renewalsAnswered();
      // Expected: no report. Actual: "Lease …:1 was lost while its task ran: other processes may have
      // used its concurrency".
      expect(reports.map(String)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  // The other side: a lease that really is gone is still reported, once, though its end was issued
  // before the inconclusive answer came.
  it('a lease really lost before its settle is reported once, as the settle', async () => {
    const key = `noscript-${randomUUID()}`;
    const store = new RedisStore({ redis: await fixtures.connect(), key });
    const { context, reports } = fakeContext({ ...limits, concurrency: 1 });
    store.open(context);
    const request = slot(1, false);
    expect(await store.acquire(request, now())).toBe(0);
    await redis.admin().del(`rlc:{${key}}:leases`, `rlc:{${key}}:info`, `rlc:{${key}}:state`);
    store.settle(request, now()); // headers and end of a short body in one tick: one flush
    store.release(request, now());
    await store.close();
    expect(reports.map((error) => [error.operation, error.message])).toEqual([
      ['settle', expect.stringMatching(/^Lease .+:1 was lost before its start was recorded/)],
    ]);
  });

  // Before: the renewal marked the grant lost without a report (its release was issued), and the
  // release, finding it marked, reported nothing either.
  it('a lease really lost while its task ran is reported once, though its release went out behind the renewal', async () => {
    const key = `noscript-${randomUUID()}`;
    const watched = watchRenewals(await fixtures.connect());
    const store = new RedisStore({ redis: watched.redis, key, leaseTtlMs: 300 });
    const { context, reports } = fakeContext({ ...limits, concurrency: 1 });
    store.open(context);
    try {
      const task = slot();
      expect(await store.acquire(task, now())).toBe(0);
      // One renewal first: its script loaded, the next one runs before the release sent behind it.
      await watched.nextRenewal();
      await watched.renewalsAnswered();
      await redis.admin().del(`rlc:{${key}}:leases`, `rlc:{${key}}:info`, `rlc:{${key}}:state`);
      await watched.nextRenewal();
      store.release(task, now()); // the task ends while the renewal is on its way
      await watched.renewalsAnswered();
      await store.close(); // waits for the release's answer
      expect(reports.map((error) => [error.operation, error.message])).toEqual([
        ['release', expect.stringMatching(/^Lease .+:1 was lost before its task ended/)],
      ]);
    } finally {
      await store.close();
    }
  });
});

const limits = { windows: [{ limit: 100, windowMs: 60_000 }], concurrency: Infinity };

/**
 * `redis` as a RedisLike that tells when a renewal (its first argument after the keys is a number) is
 * sent, and when every renewal sent so far, NOSCRIPT retries included, has been answered and handled.
 */
function watchRenewals(redis: Redis) {
  const renewals: Array<Promise<unknown>> = [];
  let onSent: (() => void) | undefined;
  const isRenewal = (numKeys: number, args: Array<string | number>) => typeof args[numKeys] === 'number';
  const watched: RedisLike = {
    evalsha: (sha, numKeys, ...args) => {
      const reply = redis.evalsha(sha, numKeys, ...args);
      if (isRenewal(numKeys, args)) {
        renewals.push(reply);
        // Resolved as it is sent: what the awaiting caller does next goes out behind it (no I/O between).
        onSent?.();
        onSent = undefined;
      }
      return reply;
    },
    eval: (script, numKeys, ...args) => {
      const reply = redis.eval(script, numKeys, ...args);
      if (isRenewal(numKeys, args)) renewals.push(reply);
      return reply;
    },
    get status() {
      return redis.status;
    },
    on: (event, listener) => redis.on(event, listener),
    off: (event, listener) => redis.off(event, listener),
    duplicate: () => redis.duplicate(),
    subscribe: (...channels) => redis.subscribe(...channels),
    unsubscribe: (...channels) => redis.unsubscribe(...channels),
    disconnect: () => redis.disconnect(),
  };
  return {
    redis: watched,
    /** Resolves as the next renewal is sent, before anything else can be. */
    nextRenewal: () =>
      new Promise<void>((resolve) => {
        onSent = resolve;
      }),
    /** Every renewal answered, and the store's handling of the answers (all microtasks) done. */
    async renewalsAnswered(): Promise<void> {
      // A NOSCRIPT answer adds the renewal's EVAL while this waits: wait for that too.
      for (let seen = 0; seen < renewals.length;) {
        const sent = renewals.slice(seen);
        seen = renewals.length;
        await Promise.allSettled(sent);
      }
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
