/**
 * The shared store suite on a real redis-server, then what a client does when that server goes away
 * mid-run and comes back, under each `failureMode`, with a real `RateLimitedClient` and work arriving
 * over time.
 *
 * Both run through each client library the store accepts (ioredis 5 and 6, iovalkey, node-redis; see
 * `OUTAGES_THROUGH` for the outages). One redis-server for the file; every test uses its own key, so
 * tests share nothing but the server.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { maxInAnyWindow } from '../../examples/support/window-count.js';
import { RateLimitedClient, StoreError, TimeoutError } from '../../src/index.js';
import { type RedisFailureMode, RedisStore } from '../../src/redis.js';
import { CLIENT_LIBRARIES, type ClientLibrary, connectWith, IOREDIS_5, NODE_REDIS, type TestClient } from '../support/redis-clients.js';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { watchStalls } from '../support/stalls.js';
import { expectAccounted, mostAtStarts, storeSuite } from './store-suite.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

let server: RedisServer;
/** Connections of the running test, closed after it. */
const connections: TestClient[] = [];
/** Connections for what a test does beside the store (SCRIPT FLUSH, CLIENT PAUSE): ioredis whatever the store's client. */
const admins: Redis[] = [];

/**
 * The outages' tests take about 6 s a library: they run on ioredis 5 (ioredis 6 and iovalkey share its
 * code, and run the store suite) and node-redis, whose connection handling is its own.
 */
const OUTAGES_THROUGH: readonly ClientLibrary[] = [IOREDIS_5, NODE_REDIS];

/**
 * A connection that fails fast (see test/support/redis-clients.ts): a command is refused at once while
 * the connection is down, where the client would otherwise queue it and send it on reconnection: the
 * store would then see a slow command instead of an outage, and could not apply its failure mode. (The
 * store detects outages itself, from failed commands and the client's status, and reports each once.)
 * It reconnects every 50 ms, so a restarted server is seen again at once.
 */
async function connectThrough(library: ClientLibrary): Promise<TestClient> {
  const client = await connectWith(library, server.url);
  connections.push(client);
  return client;
}

async function admin(): Promise<Redis> {
  const redis = new Redis(server.url);
  redis.on('error', () => {});
  admins.push(redis);
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  return redis;
}

function closeConnections(): void {
  for (const client of connections.splice(0)) client.close();
  for (const redis of admins.splice(0)) redis.disconnect();
}

describeWithRedis('RedisStore on a real redis-server', () => {
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    closeConnections();
    await server?.stop();
  });

  for (const library of CLIENT_LIBRARIES) {
    describe(`through ${library.name}`, () => {
      storeSuite(`RedisStore (${library.name})`, async () => {
        const client = await connectThrough(library);
        const key = `suite-${randomUUID()}`;
        return {
          store: new RedisStore({ redis: client.redis, key }),
          sibling: async () => new RedisStore({ redis: client.redis, key }),
          cleanup: async () => {
            connections.splice(connections.indexOf(client), 1);
            client.close();
          },
        };
      });

      if (OUTAGES_THROUGH.includes(library)) outages(library);
    });
  }
});

/** What a client on a RedisStore through `library` does while its redis-server goes away and comes back. */
function outages(library: ClientLibrary): void {
  const connect = () => connectThrough(library);

  describe('a client through a Redis outage', () => {
    /** Clients of the running test, closed (without draining) before their connections go. */
    const clients: RateLimitedClient[] = [];

    afterEach(async () => {
      for (const client of clients.splice(0)) await client.close({ drain: false });
      closeConnections();
      // A failed test may have left the server stopped: the next test needs it.
      await server.start().catch(() => {});
    });

    const LIMIT = 10;
    const WINDOW_MS = 200;
    const TASKS = 40;
    /** One submission every 15 ms: about 13 per window, more than the limit, so the windows bind. */
    const EVERY_MS = 15;
    const TASK_MS = 5;

    interface Task {
      submittedAt: number;
      startedAt: number | undefined;
    }

    /** The moments of the outage, on `performance.now()`. */
    interface Outage {
      /** `server.stop()` called. */
      stopping: number;
      /** The server process has exited: from here no grant can come from Redis. */
      stopped: number;
      /** `server.restart()` called: before this no redis-server runs. */
      restarting: number;
      /** The store's connection is ready again: from here Redis grants, not the failure mode. */
      reconnected: number;
    }

    /**
     * A dead command is given up after 200 ms rather than the default 1 s. Most outages are seen at
     * once (the client is not ready), but a command sent while ioredis is in a reconnection attempt
     * waits for an answer until this timeout (see "a task that arrives during a reconnection attempt"
     * below): 200 ms keeps that inside the outage these tests make, so they test the failure modes
     * rather than that wait.
     */
    const COMMAND_TIMEOUT_MS = 200;

    /**
     * Submits TASKS tasks, one every EVERY_MS, through a client on a RedisStore with `failureMode`; the
     * server stops after `stopAfterMs` and comes back `downMs` after it stopped. `duringOutage` runs
     * once the server has exited (to submit more work then); `afterReconnection` tasks more are
     * submitted at once when the store's connection is ready again, so that some start after it however
     * late it is seen. Resolves once the client is idle.
     */
    async function runThroughOutage(
      failureMode: RedisFailureMode,
      { stopAfterMs = 150, downMs = 400, duringOutage = (_client: RateLimitedClient) => {}, afterReconnection = 0 } = {},
    ) {
      const connection = await connect();
      const store = new RedisStore({
        redis: connection.redis,
        key: `outage-${randomUUID()}`,
        failureMode,
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
      });
      const client = new RateLimitedClient({ store, rateLimit: { limit: LIMIT, windowMs: WINDOW_MS }, concurrency: 4 });
      clients.push(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));

      const tasks: Task[] = [];
      const promises: Array<Promise<unknown>> = [];
      const submit = () => {
        const task: Task = { submittedAt: now(), startedAt: undefined };
        tasks.push(task);
        promises.push(
          client.schedule(async () => {
            task.startedAt = now();
            await sleep(TASK_MS);
          }),
        );
      };
      const produce = async () => {
        for (let i = 0; i < TASKS; i++) {
          submit();
          await sleep(EVERY_MS);
        }
      };
      const outage = {} as Outage;
      const reconnected = new Promise<void>((resolve) => {
        const stop = connection.onReady(() => {
          if (outage.restarting === undefined) return;
          outage.reconnected = now();
          stop();
          resolve();
        });
      });
      const breakRedis = async () => {
        await sleep(stopAfterMs);
        outage.stopping = now();
        await server.stop();
        outage.stopped = now();
        duringOutage(client);
        await sleep(downMs);
        outage.restarting = now();
        await server.restart();
      };
      await Promise.all([produce(), breakRedis()]);
      await reconnected;
      for (let i = 0; i < afterReconnection; i++) submit();
      await client.onIdle();
      const settled = await Promise.allSettled(promises);
      const starts = tasks.flatMap((task) => (task.startedAt === undefined ? [] : [task.startedAt]));
      /** Started while no redis-server ran. */
      const startedDown = starts.filter((at) => at >= outage.stopped && at < outage.restarting);
      return { client, store, errors, tasks, settled, starts, startedDown, outage };
    }

    /** Exactly one error event for the outage: a StoreError, not one per task or per command. */
    function expectOneOutageReport(errors: unknown[]): void {
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(StoreError);
      expect(errors[0]).toMatchObject({ code: 'RLC_ERR_STORE', operation: 'connection' });
    }

    it("'local': work goes on during the outage within this process's share, reported once", async () => {
      // A window's worth of work once Redis is back: on a busy machine every task of the run may have
      // started before the reconnection is seen, and these are what Redis must pace by the share's starts.
      const run = await runThroughOutage('local', { afterReconnection: LIMIT });
      const submitted = TASKS + LIMIT;

      // Every promise settled, each fulfilled: nothing lost, nothing failed.
      expect(run.settled).toHaveLength(submitted);
      expect(run.settled.every((result) => result.status === 'fulfilled')).toBe(true);
      expectAccounted(run.client.stats(), { submitted, completed: submitted, failed: 0 });
      expectOneOutageReport(run.errors);
      expect(run.errors[0]).toMatchObject({ message: expect.stringMatching(/share of the limits/) });

      // About 26 tasks arrive during the 400 ms outage, and this process's share is the whole limit (it
      // is the only client of its key): most of them start then. At least 5 leaves room for the
      // outage's detection (up to COMMAND_TIMEOUT_MS) and the window that starts before it filled.
      expect(run.startedDown.length).toBeGreaterThanOrEqual(5);
      // The share holds: at each start of the outage, the window before it (starts granted by Redis
      // before the outage included: the share remembers them) held at most LIMIT starts.
      expect(mostAtStarts(run.starts, run.startedDown, WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
      // Before the stop, Redis kept the window alone.
      const beforeStop = run.starts.filter((at) => at < run.outage.stopping);
      expect(maxInAnyWindow(beforeStop, WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
      // Once back, Redis counts the starts the share made: the restarted server never saw them, but the
      // store logs them there at their age before it asks again. So at each start Redis grants after the
      // reconnection, the window before it (the share's last starts included) held at most LIMIT. The
      // LIMIT tasks submitted then start after it, all of them: were the share's last starts not
      // counted, they would all start at once on top of those.
      const afterReconnection = run.starts.filter((at) => at >= run.outage.reconnected);
      expect(afterReconnection.length).toBeGreaterThanOrEqual(LIMIT);
      expect(mostAtStarts(run.starts, afterReconnection, WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
      expect(run.store.stats().down).toBe(false);
    });

    it("'local': a start Redis granted before the outage leaves the share's window no earlier than it began", async () => {
      // Many starts, each paced by one of Redis's leaving the window: where a start recorded earlier
      // than it began shows, by a fraction of a millisecond at each edge. 40 edges make it certain.
      const limit = 40;
      const windowMs = 500;
      const connection = await connect();
      const store = new RedisStore({ redis: connection.redis, key: `share-${randomUUID()}`, failureMode: 'local' });
      const client = new RateLimitedClient({ store, rateLimit: { limit, windowMs }, concurrency: 4 });
      clients.push(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      const starts: number[] = [];
      const run = () =>
        client.schedule(async () => {
          starts.push(now());
          await sleep(1);
        });

      // Redis grants `limit` starts, 5 ms apart: one window's worth, spread over 200-300 ms.
      const granted: Array<Promise<unknown>> = [];
      for (let i = 0; i < limit; i++) {
        granted.push(run());
        await sleep(5);
      }
      await Promise.all(granted);
      const fromRedis = [...starts];
      await server.stop();
      // A backlog the share must pace, seen as an outage at once (its first acquire finds the client
      // down), well before the first of Redis's starts leaves the window: each start of the share then
      // waits for one of Redis's to leave, and the scheduler wakes precisely when the share says so.
      const stopped = now();
      expect(stopped - Math.min(...fromRedis)).toBeLessThan(windowMs);
      await Promise.all(Array.from({ length: limit }, run));
      await server.start();
      const fromShare = starts.filter((at) => at >= stopped);

      expect(fromRedis).toHaveLength(limit);
      expect(fromShare).toHaveLength(limit);
      expectOneOutageReport(errors);
      // Exact, as for a MemoryStore: at each start of the share, the windowMs before it held at most
      // `limit` starts, counting those Redis granted before the outage.
      expect(mostAtStarts(starts, fromShare, windowMs)).toBeLessThanOrEqual(limit);
      // Not starved either: the share's last start follows Redis's last by about one window.
      expect(Math.max(...fromShare) - Math.max(...fromRedis)).toBeLessThan(windowMs + 100);
    });

    it("'local': a cost set in a task's synchronous part counts in the share as it is, and leaves nothing behind", async () => {
      const windowMs = 300;
      const connection = await connect();
      const store = new RedisStore({ redis: connection.redis, key: `amend-${randomUUID()}`, failureMode: 'local' });
      const client = new RateLimitedClient({ store, rateLimit: { limit: 100, windowMs, counts: 'tokens' } });
      clients.push(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      await client.schedule(() => undefined); // Redis answered: the share is the whole limit (one client)
      await server.stop();

      // Granted by the share; its real cost is set before its start is recorded there.
      await client.schedule((context) => context.setCost({ tokens: 60 }), { cost: { tokens: 10 } });
      expect(store.stats().fallbackGrants).toBe(1);
      expect(client.stats().windows).toEqual([expect.objectContaining({ counts: 'tokens', used: 60 })]);
      // Once it has left the window (+ 100 ms for late timers), the whole share is free again: a settle
      // that took the estimate off the pending amount would hold 50 tokens pending for ever, and the
      // share would refuse every start over 50 until Redis came back.
      await sleep(windowMs + 100);
      expect(client.stats().windows).toEqual([expect.objectContaining({ counts: 'tokens', used: 0 })]);
      await client.schedule(() => undefined, { cost: { tokens: 100 }, maxWaitMs: 1_000 });
      expect(store.stats().fallbackGrants).toBe(2);
      expectOneOutageReport(errors);
    });

    it("'local': a task that arrives during a reconnection attempt is answered by the share at once", async () => {
      const connection = await connect();
      const store = new RedisStore({ redis: connection.redis, key: `connecting-${randomUUID()}`, failureMode: 'local' });
      const client = new RateLimitedClient({ store, rateLimit: { limit: LIMIT, windowMs: WINDOW_MS }, concurrency: 4 });
      clients.push(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      await client.schedule(() => undefined); // the connection was up, and Redis answered
      await server.stop();

      // ioredis tries to reconnect every 50 ms; during each attempt its status is 'connecting' (until the
      // refusal comes back), and between attempts 'reconnecting'. A task can arrive at either moment:
      // here, in an attempt. The store has seen the connection go; the share should answer at once, as
      // it does between attempts, not after the store's 1 s commandTimeoutMs (the default).
      const stalls = watchStalls();
      let submittedAt = 0;
      const startedAt = await new Promise<number>((resolve, reject) => {
        void connection.nextAttempt().then(() => {
          submittedAt = now();
          client.schedule(() => resolve(now())).catch(reject);
        });
      });
      await server.start();

      // 100 ms: the next reconnection attempt (50 ms) has failed by then, whatever the store waits for
      // (plus this process's stalls).
      expect(startedAt - submittedAt).toBeLessThan(stalls.allowing(100));
      expectOneOutageReport(errors);
    });

    it("'closed': nothing starts while Redis is down; waiting work runs after the restart, short waits time out", async () => {
      let short: Promise<Array<PromiseSettledResult<unknown>>> = Promise.resolve([]);
      let shortRan = 0;
      const run = await runThroughOutage('closed', {
        duringOutage: (client) => {
          // Collected at once: they reject while the run goes on.
          short = Promise.allSettled(Array.from({ length: 3 }, () => client.schedule(() => shortRan++, { maxWaitMs: 100 })));
        },
      });
      const shortSettled = await short;

      // Every promise settled: the 40 ran (after the restart for those that waited), the 3 timed out.
      expect(run.settled).toHaveLength(TASKS);
      expect(run.settled.every((result) => result.status === 'fulfilled')).toBe(true);
      expect(shortSettled).toHaveLength(3);
      for (const result of shortSettled) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
        expect((result as PromiseRejectedResult).reason).toMatchObject({ phase: 'queue', timeoutMs: 100 });
      }
      expect(shortRan).toBe(0);
      // Accepted and then timed out in the queue (`failed`), or refused at submission (`rejected`).
      const stats = run.client.stats();
      expectAccounted(stats, { completed: TASKS });
      expect(stats.submitted + stats.rejected).toBe(TASKS + 3);
      expectOneOutageReport(run.errors);

      // No start while no redis-server ran. A grant Redis sent just before it exited may start a moment
      // after: 10 ms for the event loop to run it on a busy machine.
      const { stopped, restarting } = run.outage;
      expect(run.starts.filter((at) => at >= stopped + 10 && at < restarting)).toEqual([]);
      // Work submitted during the outage waited for the new server.
      const submittedDown = run.tasks.filter((task) => task.submittedAt >= stopped && task.submittedAt < restarting);
      expect(submittedDown.length).toBeGreaterThan(10);
      for (const task of submittedDown) expect(task.startedAt).toBeGreaterThanOrEqual(restarting);
      // The windows hold throughout: nothing started during the outage, so a fresh server's empty log is
      // the truth.
      expect(maxInAnyWindow([...run.starts], WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
    });

    it("'open': work goes on during the outage without shared limits, reported once", async () => {
      const run = await runThroughOutage('open');

      expect(run.settled).toHaveLength(TASKS);
      expect(run.settled.every((result) => result.status === 'fulfilled')).toBe(true);
      expectAccounted(run.client.stats(), { submitted: TASKS, completed: TASKS, failed: 0 });
      expectOneOutageReport(run.errors);
      // About 26 tasks arrive during the 400 ms outage; they start as they come (concurrency 4 of
      // 5 ms tasks is no bound at one every 15 ms). 10 leaves room for the outage's detection (up to
      // COMMAND_TIMEOUT_MS).
      expect(run.startedDown.length).toBeGreaterThanOrEqual(10);
      const beforeStop = run.starts.filter((at) => at < run.outage.stopping);
      expect(maxInAnyWindow(beforeStop, WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
      expect(run.store.stats()).toMatchObject({ down: false });
      expect(run.store.stats().fallbackGrants).toBeGreaterThanOrEqual(run.startedDown.length);
    });

    it('SCRIPT FLUSH mid-run: the scripts are loaded again, everything finishes, the windows hold', async () => {
      const connection = await connect();
      const raw = await admin();
      const store = new RedisStore({ redis: connection.redis, key: `flush-${randomUUID()}` });
      const client = new RateLimitedClient({ store, rateLimit: { limit: LIMIT, windowMs: WINDOW_MS }, concurrency: 4 });
      clients.push(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));

      const starts: number[] = [];
      const promises: Array<Promise<unknown>> = [];
      for (let i = 0; i < TASKS; i++) {
        promises.push(
          client.schedule(async () => {
            starts.push(now());
            await sleep(TASK_MS);
          }),
        );
        if (i === 10 || i === 25) await raw.script('FLUSH');
        await sleep(EVERY_MS);
      }
      await client.onIdle();
      const settled = await Promise.allSettled(promises);

      expect(settled.every((result) => result.status === 'fulfilled')).toBe(true);
      expectAccounted(client.stats(), { submitted: TASKS, completed: TASKS });
      // The log survives a SCRIPT FLUSH: the windows hold exactly, and nothing was reported.
      expect(maxInAnyWindow([...starts], WINDOW_MS)).toBeLessThanOrEqual(LIMIT);
      expect(errors).toEqual([]);
      expect(store.stats().down).toBe(false);
    });

    it('a restart mid-run (scripts and state gone): everything finishes, and the windows hold on each side', async () => {
      // stop() then start() at once: a short outage, and a server with no scripts and no log.
      const run = await runThroughOutage('local', { stopAfterMs: 250, downMs: 0 });

      expect(run.settled).toHaveLength(TASKS);
      expect(run.settled.every((result) => result.status === 'fulfilled')).toBe(true);
      expectAccounted(run.client.stats(), { submitted: TASKS, completed: TASKS, failed: 0 });
      // A restart this short can pass between two commands unnoticed (then nothing is reported); if a
      // command meets it, it is one outage, reported once. The restarted server has lost the leases of
      // tasks that were running: a release that reaches it afterwards rightly reports its lease lost
      // (other processes could have used that concurrency meanwhile). A release sent before the restart
      // and resent by ioredis is not reported (the next test).
      for (const error of run.errors) expect(error).toMatchObject({ name: 'StoreError', code: 'RLC_ERR_STORE' });
      const reports = run.errors as StoreError[];
      expect(reports.filter((error) => error.operation === 'connection').length).toBeLessThanOrEqual(1);
      for (const error of reports.filter((each) => each.operation !== 'connection')) {
        expect(error).toMatchObject({ operation: 'release', message: expect.stringMatching(/^Lease .+ was lost before its task ended/) });
      }
      expect(run.store.stats().down).toBe(false);
      // Up to the stop the old server's log holds the window, and from the reconnection on the new
      // server's. (Through an outage, this process's share holds it: see the 'local' test.)
      const { stopping, reconnected } = run.outage;
      expect(
        maxInAnyWindow(
          run.starts.filter((at) => at < stopping),
          WINDOW_MS,
        ),
      ).toBeLessThanOrEqual(LIMIT);
      expect(
        maxInAnyWindow(
          run.starts.filter((at) => at >= reconnected),
          WINDOW_MS,
        ),
      ).toBeLessThanOrEqual(LIMIT);
      // Across the restart: the new server never saw the starts the old one granted (no persistence),
      // and nothing can tell it (the share logs only its own), so a window spanning the restart can
      // hold those plus a new limit, and no more.
      expect(maxInAnyWindow([...run.starts], WINDOW_MS)).toBeLessThanOrEqual(2 * LIMIT);
    });

    it('a release cut off by a quick restart is not reported as a lost lease', async () => {
      const connection = await connect();
      const raw = await admin();
      const store = new RedisStore({ redis: connection.redis, key: `resend-${randomUUID()}` });
      // Concurrency makes the grant a lease in Redis, released when the task ends.
      const client = new RateLimitedClient({ store, concurrency: 2, rateLimit: { limit: 10, windowMs: 1_000 } });
      clients.push(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      let finish!: () => void;
      let started!: () => void;
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const task = client.schedule(
        () =>
          new Promise<void>((resolve) => {
            finish = resolve;
            started();
          }),
      );
      await running;

      // The server takes the release but does not answer it, and then restarts: ioredis sends the
      // unanswered command again on the new connection (autoResendUnfulfilledCommands), to a server
      // that never saw the lease. The task had ended and its release was sent while the lease lived:
      // no lease was lost while the task ran, and other processes could not have used its concurrency.
      await raw.client('PAUSE', 10_000, 'ALL');
      finish();
      await task;
      await server.restart();
      await client.close(); // waits for the release's answer, from the new server

      // At most the restart itself, once; not a report per release in flight.
      expect(errors.length).toBeLessThanOrEqual(1);
      for (const error of errors) expect(error).toMatchObject({ name: 'StoreError', operation: 'connection' });
    });
  });
}
