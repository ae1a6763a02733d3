/**
 * Regression tests for bugs a second review found in RedisStore's outage recovery (fixed in "Make what
 * an outage held back reach Redis, once, when it is back"). Each failed before its fix; the comments
 * tell the bug.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { delay, heldTask, now, probe, slot, TIMED_OUT, useRedisServer, within } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

const answer = async (value: number | Promise<number>) => (typeof value === 'number' ? value : await value);

/**
 * A TCP proxy in front of redis-server that can hold traffic without closing anything: what a client
 * sees in a network partition (no RST, no answer). `holdUp` buffers what clients send; the reply that
 * arrives while `holdUpAfterReply` is set switches `holdUp` on just before it is passed on.
 */
class HoldingProxy {
  holdUp = false;
  holdUpAfterReply = false;
  readonly #held: Array<() => void> = [];
  readonly #sockets = new Set<net.Socket>();
  readonly #server: net.Server;
  port = 0;

  constructor(private readonly target: number) {
    this.#server = net.createServer((socket) => {
      const upstream = net.connect({ port: this.target, host: '127.0.0.1' });
      this.#sockets.add(socket).add(upstream);
      socket.on('error', () => {});
      upstream.on('error', () => {});
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.on('data', (chunk) => {
        if (this.holdUp) this.#held.push(() => upstream.write(chunk));
        else upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (this.holdUpAfterReply) {
          this.holdUpAfterReply = false;
          this.holdUp = true;
        }
        socket.write(chunk);
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Lets what was held through, and holds nothing more (unless `holdUpAfterReply`). */
  releaseHeld(): void {
    this.holdUp = false;
    for (const send of this.#held.splice(0)) send();
  }

  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#server.close();
  }
}

describeWithRedis('RedisStore outage regressions', () => {
  const redis = useRedisServer();
  const { fixtures, readOnly, writable } = redis;
  const connect = (url?: string) => fixtures.connect(url);
  const client = fixtures.client.bind(fixtures);
  const openStore = fixtures.openStore.bind(fixtures);
  const logSize = (key: string) => redis.admin().zcard(`rlc:{${key}}:log`);

  // A: redis.ts #recovered (l.444) flushes settles and releases but not `#unrecorded`: those starts
  // reach Redis only ahead of this process's NEXT acquire (l.300). A process that has no more work
  // after the outage never records them, and the other processes get a whole fresh window on top.
  it('starts granted locally during an outage reach Redis although this process asks nothing more', async () => {
    const key = `review2-${randomUUID()}`;
    const limits = { rateLimit: { limit: 3, windowMs: 5_000 } };
    const a = await client({ key, commandTimeoutMs: 100, safetyMarginMs: 0 }, limits);
    await readOnly();
    // Alone as far as Redis knows: 'local' gives this process the whole limit (3).
    await Promise.all([1, 2, 3].map(() => a.client.schedule(() => 'a')));
    await writable();
    await delay(300); // Redis is healthy again; process A has nothing left to do

    const b = await client({ key, safetyMarginMs: 0 }, limits);
    const more = Promise.all([1, 2, 3].map(() => b.client.schedule(() => 'b')));
    more.catch(() => {});
    const outcome = await within(more, 1_000);
    // Expected: B waits (3 starts already in the 5 s window). Actual: B runs 3 more at once: 6 in 5 s.
    expect(outcome).toBe(TIMED_OUT);
    expect(await logSize(key)).toBe(3);
  });

  // B: redis.ts l.305-309: an acquire that timed out was answered by the failure mode (a 'local' grant,
  // later logged by RECORD under its own id); when Redis's late reply is a grant settled at once without
  // concurrency, nothing is given back: its start stays in Redis's log. One task, two starts in Redis.
  it('an acquire that timed out and was granted late does not count its task twice in Redis', async () => {
    const key = `review2-${randomUUID()}`;
    const { client: c } = await client({ key, commandTimeoutMs: 100, safetyMarginMs: 0 }, { rateLimit: { limit: 10, windowMs: 60_000 } });
    expect(await c.schedule(() => 'warm')).toBe('warm'); // the scripts are loaded, Redis knows this client
    await redis.admin().client('PAUSE', 400, 'WRITE');
    // Times out after 100 ms; 'local' grants it; Redis runs (and grants) the acquire when the pause ends.
    expect(await c.schedule(() => 'during pause')).toBe('during pause');
    await delay(500);
    expect(await c.schedule(() => 'after')).toBe('after'); // records the local start ahead of it
    // Expected: 3 tasks ran, 3 starts in the log. Actual: 4 (the late grant's phantom start).
    expect(await logSize(key)).toBe(3);
  });

  // B': same with a pending grant (an HTTP request): the late release (l.308) runs RELEASE, which logs a
  // pending start "from its end" although it never started.
  it('a late pending grant given back does not log a start', async () => {
    const key = `review2-${randomUUID()}`;
    const { client: c } = await client({ key, commandTimeoutMs: 100, safetyMarginMs: 0 }, { rateLimit: { limit: 10, windowMs: 60_000 } });
    expect(await c.schedule(() => 'warm')).toBe('warm');
    // Drive the store directly as an HTTP request would: settleAtStart false.
    const raw = openStore(
      { redis: await connect(), key, commandTimeoutMs: 100, safetyMarginMs: 0 },
      {
        windows: [{ limit: 10, windowMs: 60_000 }],
        concurrency: Infinity,
      },
    );
    await redis.admin().client('PAUSE', 400, 'WRITE');
    const request = slot(1, false);
    expect(await answer(raw.store.acquire(request, now()))).toBe(0); // timed out: granted locally
    raw.store.settle(request, now());
    raw.store.release(request, now());
    await delay(500); // the late grant came back and was released
    expect(await answer(raw.store.acquire(slot(), now()))).toBe(0); // records the local start ahead of it
    // Expected: warm + the request + the last acquire = 3. Actual: 4.
    expect(await logSize(key)).toBe(3);
  });

  // C: redis.ts #granted (l.389) makes a local grant with `holds: false`, and RECORD only logs its start:
  // a task granted locally and still running when Redis is back holds no shared concurrency there.
  it('a task granted locally and still running after the outage holds the shared concurrency', async () => {
    const key = `review2-${randomUUID()}`;
    const limits = { windows: [], concurrency: 1 };
    const a = openStore({ redis: await connect(), key, commandTimeoutMs: 100 }, limits);
    const b = openStore({ redis: await connect(), key, commandTimeoutMs: 100 }, limits);
    await readOnly();
    const running = slot();
    expect(await answer(a.store.acquire(running, now()))).toBe(0); // A's share grants it; it runs on
    await writable();
    await delay(150);
    // A's next acquire (another task of A: its own semaphore would hold it, but the store is asked
    // once a permit is free; here, directly) finds Redis back and records A's outage start.
    await probe(a.store);
    await delay(50);
    expect(a.store.stats().down).toBe(false);
    const held = await redis.admin().hget(`rlc:{${key}}:state`, 'held');
    const wait = await answer(b.store.acquire(slot(), now()));
    // Expected: A's running task holds the shared concurrency (held 1) and B is refused. Actual: nothing
    // held, B granted at once: 2 tasks in flight under a shared concurrency of 1.
    expect({ held, refused: wait > 0 }).toEqual({ held: '1', refused: true });
    a.store.release(running, now());
  });

  // D: redis.ts #send (l.536): a release that fails with an error (not a timeout) is dropped; only those
  // made once the store already counts Redis as down are kept for its return. Its concurrency stays held
  // in Redis until its lease expires (leaseTtlMs), long after Redis is back.
  it('a release that failed when the outage began is sent again once Redis is back', async () => {
    const key = `review2-${randomUUID()}`;
    const limits = { windows: [], concurrency: 1 };
    const a = openStore({ redis: await connect(), key, commandTimeoutMs: 100 }, limits);
    const b = openStore({ redis: await connect(), key, commandTimeoutMs: 100 }, limits);
    const task = slot();
    expect(await answer(a.store.acquire(task, now()))).toBe(0);
    await readOnly();
    a.store.release(task, now()); // the RELEASE script gets READONLY: dropped
    await delay(150);
    expect(a.store.stats().down).toBe(true);
    await writable();
    await delay(150);
    // A probes Redis (its next acquire after commandTimeoutMs): Redis is back, A is recovered.
    const probeWait = await probe(a.store);
    await delay(50);
    const wait = await answer(b.store.acquire(slot(), now()));
    // Expected: nothing runs anywhere: both granted at once. Actual: both refused for ~leaseTtlMs (10 s),
    // held = 1 by the task that ended during the outage.
    expect({ recovered: a.store.stats().down, probeWait, wait }).toEqual({ recovered: false, probeWait: 0, wait: 0 });
  });

  // E: redis.ts #send (l.530-535) and #lost: releases held back while Redis was down (`#toRelease`,
  // sent by #recovered) report every lease Redis no longer has as "lost before its task ended", though
  // the task ended while its lease was alive: the store itself kept the release from Redis. The same
  // happens after a restart (the case 8cea4ad meant to stop reporting): the deferred release is sent on
  // the new connection, so `connection === this.#connections` holds and the restart's loss is reported.
  it('a release held back during an outage is not reported as a lost lease when the task ended in time', async () => {
    const key = `review2-${randomUUID()}`;
    const limits = { windows: [], concurrency: 1 };
    const a = openStore({ redis: await connect(), key, commandTimeoutMs: 100, leaseTtlMs: 300 }, limits);
    const task = slot();
    expect(await answer(a.store.acquire(task, now()))).toBe(0);
    await readOnly();
    const refused = slot();
    await answer(a.store.acquire(refused, now())); // fails: the store is down ('local' answers)
    if (refused.storeData !== undefined) a.store.release(refused, now());
    expect(a.store.stats().down).toBe(true);
    a.store.release(task, now()); // the task ends 0.1 s into its 0.3 s lease: the release waits
    await delay(500); // the outage outlasts the lease
    await writable();
    await probe(a.store);
    await delay(100);
    const messages = a.reports.map((error) => error.message);
    // Expected: the outage report only. Actual: also "Lease …:1 was lost before its task ended".
    expect(messages.filter((message) => message.includes('was lost'))).toEqual([]);
  });

  it('a release held back while Redis restarts is not reported as a lost lease', async () => {
    const key = `review2-${randomUUID()}`;
    const limits = { windows: [], concurrency: 1 };
    const a = openStore({ redis: await connect(), key, commandTimeoutMs: 200 }, limits);
    const task = slot();
    expect(await answer(a.store.acquire(task, now()))).toBe(0);
    await redis.server().stop();
    await delay(50);
    a.store.release(task, now()); // the connection is gone: held back until 'ready'
    await redis.server().start();
    await delay(500); // 'ready': the release goes to the new server, which never saw the lease
    const messages = a.reports.map((error) => error.message);
    expect(messages[0]).toContain('unreachable');
    // Expected: the outage report only (a restart's loss, as for a release resent by ioredis). Actual:
    // also "Lease …:1 was lost before its task ended".
    expect(messages.filter((message) => message.includes('was lost'))).toEqual([]);
  });

  // F: redis.ts l.308: the late grant's release is sent with `this.#scripts.release` directly, not
  // through `#timed`, and tracked in `#flushes`, which close() awaits (l.262). When Redis stops answering
  // again (a partition: the connection stays open), close() waits for it with no bound.
  it('close() does not wait without bound for the release of a late grant', async () => {
    const key = `review2-${randomUUID()}`;
    const proxy = new HoldingProxy(redis.server().port);
    const url = await proxy.listen();
    try {
      const store = new RedisStore({ redis: await connect(url), key, commandTimeoutMs: 100 });
      const c = new RateLimitedClient({ concurrency: 1, store });
      c.on('error', () => {});
      expect(await c.schedule(() => 'warm')).toBe('warm');
      await delay(50); // its release is answered
      proxy.holdUp = true; // Redis stops hearing this process
      expect(await c.schedule(() => 'local')).toBe('local'); // timed out after 100 ms: 'local' granted it
      proxy.holdUpAfterReply = true;
      proxy.releaseHeld(); // the acquire reaches Redis and is granted; then the partition is back
      await delay(100); // the late grant's release is on its way, and will never be answered
      const closed = await within(c.close(), 2_000);
      // Expected: close() resolves within about commandTimeoutMs (100 ms), as it does for settles and
      // releases sent through #timed. Actual: still pending after 2 s (until the TCP connection dies).
      expect(closed).not.toBe(TIMED_OUT);
    } finally {
      proxy.close();
    }
  });

  // G: redis.ts #granted (l.391) pushes every fallback grant onto `#unrecorded`; only #recordUnrecorded
  // (l.403), run ahead of an acquire sent to Redis, drops those older than every window. During a long
  // outage nothing prunes it: it grows with every grant, although a grant older than the longest window
  // will be dropped anyway.
  it('a long outage does not keep every grant it made in memory', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const key = `review2-${randomUUID()}`;
    const limits = { windows: [{ limit: 1_000_000, windowMs: 10 }], concurrency: Infinity };
    const a = openStore({ redis: await connect(), key, failureMode: 'open', commandTimeoutMs: 3_000, safetyMarginMs: 0 }, limits);
    await readOnly();
    await answer(a.store.acquire(slot(), now())); // fails: down, and no probe for 3 s
    expect(a.store.stats().down).toBe(true);
    const burst = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const s = slot();
        await answer(a.store.acquire(s, now()));
        a.store.settle(s, now());
        a.store.release(s, now());
        if (i % 10_000 === 0) await delay(11); // older than the only window (10 ms)
      }
    };
    await burst(10_000); // warm up
    gc();
    const before = process.memoryUsage().heapUsed;
    await burst(300_000); // e.g. 300 requests/s for 17 minutes
    await delay(20);
    gc();
    const grown = (process.memoryUsage().heapUsed - before) / 1e6;
    // The control: once Redis is back and the next acquire has run #recordUnrecorded, it is freed.
    await writable();
    await delay(3_000);
    await answer(a.store.acquire(slot(), now()));
    expect(a.store.stats().down).toBe(false);
    gc();
    const afterRecovery = (process.memoryUsage().heapUsed - before) / 1e6;
    // Expected: the grants of a finished window are garbage during the outage too: a few MB at most.
    // Actual: ~70 MB kept while down, freed only by the first acquire after recovery.
    expect({ whileDown: Math.round(grown) < 5, afterRecovery: Math.round(afterRecovery) < 5 }).toEqual({
      whileDown: true,
      afterRecovery: true,
    });
  });

  // H (a third review): an acquire that times out while it still waits to be sent (here for the first
  // connection to become ready) is answered by the failure mode, whose fallback grant takes its id. Once
  // ready, the fallback is recorded in Redis first, and the waiting ACQUIRE then went out behind it and
  // granted the same id again: its weight counted twice in the shared concurrency while it ran.
  it('an acquire answered by the failure mode before it was sent is not sent after all', async () => {
    const key = `review3-${randomUUID()}`;
    const proxy = new HoldingProxy(redis.server().port);
    const url = await proxy.listen();
    proxy.holdUp = true; // the connection opens, but Redis does not hear the ready check yet
    const raw = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 });
    raw.on('error', () => {});
    try {
      const store = new RedisStore({ redis: raw, key, failureMode: 'local', commandTimeoutMs: 100 });
      const c = new RateLimitedClient({ concurrency: 2, store });
      const reports: unknown[] = [];
      c.on('error', (error) => reports.push(error));
      await new Promise<void>((resolve) => {
        if (raw.status === 'connect') resolve();
        else raw.once('connect', () => resolve());
      });
      const task = heldTask();
      const running = c.schedule(task.task);
      await task.started; // granted by the share after commandTimeoutMs: Redis was never asked
      proxy.releaseHeld(); // ready: the store records the local start in Redis
      const deadline = performance.now() + 3_000;
      while (store.stats().down && performance.now() < deadline) await delay(20);
      await delay(100); // whatever the store sends on recovery has been answered
      // Expected: the running task holds 1 unit of the shared concurrency. Actual: 2.
      expect(await redis.admin().hget(`rlc:{${key}}:state`, 'held')).toBe('1');
      task.finish();
      await running;
      await c.close();
      expect(reports).toHaveLength(1); // the outage, once
    } finally {
      raw.disconnect();
      proxy.close();
    }
  });
});
