/**
 * Several OS processes share one quota through a `RedisStore`.
 *
 *   npx tsx examples/multi-process-redis.ts
 *
 * The parent starts a local mock API that allows 20 requests in any 1 000 ms (counted when they
 * arrive, 429 beyond that) and a Redis, then forks 3 worker processes. Each worker builds its own
 * `RateLimitedClient` with the same `rateLimit` and a `RedisStore` on the same key, and sends 20
 * requests at once. The API must see at most 20 arrivals in any 1 000 ms across all three, answer no
 * 429, and every request must finish; otherwise the example exits with code 1. Each process alone
 * would allow itself the full 20, so without the shared store the API could see 60 in one window.
 *
 * Redis: set `REDIS_URL` (e.g. `REDIS_URL=redis://127.0.0.1:6379`) to use a running one; otherwise
 * the example starts `redis-server` from PATH on a free port, with nothing written to disk, and
 * stops it at the end.
 *
 * Adapting it:
 * - One `key` per third-party quota ('github-api', 'stripe-live'): every process that calls that API
 *   with that credential uses the same key, the same `rateLimit` and the same `concurrency`. Two
 *   different APIs (or two tokens with their own quotas) get two keys.
 * - `safetyMarginMs` (default 20) widens every window in Redis, to absorb the time between a grant on
 *   Redis's clock and the start in the process. Raise it when processes sit on busy machines or far
 *   from Redis; it costs about safetyMarginMs / windowMs of throughput.
 * - `failureMode` decides what happens while Redis is unreachable: `'local'` (default: each process
 *   goes on with its share of the quota), `'closed'` (nothing starts until Redis is back) or `'open'`
 *   (no shared limit at all). Listen to the client's `error` event to hear about outages.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RateLimitedClient } from 'rate-limited-client';
import { RedisStore } from 'rate-limited-client/redis';
import { openExampleRedis } from './support/local-redis.js';
import { startMockApi } from './support/mock-api.js';
import { type WorkerMessage, watchWorker } from './support/worker-process.js';

const LIMIT = 20;
const WINDOW_MS = 1_000;
const PROCESSES = 3;
const REQUESTS_PER_PROCESS = 20;

/** What the parent tells each worker on its command line. */
interface WorkerSettings {
  index: number;
  apiUrl: string;
  redisUrl: string;
  key: string;
}

/** What a worker reports over the IPC channel once its requests have all settled. */
interface WorkerReport {
  statuses: number[];
  failures: string[];
  storeErrors: string[];
  elapsedMs: number;
  grants: number;
  fallbackGrants: number;
  roundTrips: number;
}

if (process.argv[2] === 'worker') await worker(JSON.parse(process.argv[3] as string) as WorkerSettings);
else await parent();

// --- A worker: what each replica of a real service would run.

async function worker({ index, apiUrl, redisUrl, key }: WorkerSettings): Promise<void> {
  const send = (message: WorkerMessage<WorkerReport>): void => void process.send?.(message);

  // Fail fast while Redis is down instead of queueing commands in ioredis (see RedisStore's docs).
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => {}); // outages reach the client's `error` event as StoreError
  // The defaults, spelled out: see the top of the file for when to change them.
  const store = new RedisStore({ redis, key, safetyMarginMs: 20, failureMode: 'local' });
  const client = new RateLimitedClient({
    baseUrl: apiUrl,
    // Shared too, like the windows: at most 5 requests in flight across all processes together.
    concurrency: 5,
    rateLimit: { limit: LIMIT, windowMs: WINDOW_MS },
    store,
    // One attempt per request, so every request is exactly one arrival at the API and a 429 shows in
    // the report instead of being retried away. Keep retries on in real code.
    retry: false,
  });
  // Store problems (Redis down, a lease lost) have no caller to reject: they arrive here as StoreError.
  const storeErrors: string[] = [];
  client.on('error', (error) => storeErrors.push(error instanceof Error ? error.message : String(error)));

  // With enableOfflineQueue: false the store counts a connection that is not ready yet as down.
  if (redis.status !== 'ready') await once(redis, 'ready');
  send({ type: 'ready' });
  await once(process, 'message'); // the parent's go

  const started = performance.now();
  const statuses: number[] = [];
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: REQUESTS_PER_PROCESS }, (_, i) =>
      client.get(`/worker-${index}/${i}`, { throwHttpErrors: false }).then(
        (response) => void statuses.push(response.status),
        (error: unknown) => void failures.push(String(error)),
      ),
    ),
  );
  const elapsedMs = performance.now() - started;
  await client.close();
  // The store never closes the connection it was given: that is ours to quit.
  await redis.quit();
  const { grants, fallbackGrants, roundTrips } = store.stats();
  send({ type: 'done', statuses, failures, storeErrors, elapsedMs, grants, fallbackGrants, roundTrips });
}

// --- The parent: a mock API, a Redis, the workers, and the verdict from what the API saw.

async function parent(): Promise<void> {
  const t0 = performance.now();
  const redisServer = await openExampleRedis();
  if (redisServer === null) {
    process.exitCode = 1;
    return;
  }
  const redisUrl = redisServer.url;
  const api = await startMockApi({ limit: LIMIT, windowMs: WINDOW_MS });
  const children: ChildProcess[] = [];
  try {
    // In a real service the key names the quota ('github-api'); a fresh one per run here, so that a
    // shared REDIS_URL holding an earlier run's starts does not slow this one down.
    const key = `example-mock-api-${process.pid}-${Date.now()}`;
    console.log(`Mock API at ${api.url}: ${LIMIT} requests per ${WINDOW_MS} ms, counted on arrival; 429 beyond that.`);
    console.log(`Redis at ${redisUrl} ${redisServer.origin}, key '${key}'.`);
    console.log(
      `${PROCESSES} processes, each with rateLimit ${LIMIT} per ${WINDOW_MS} ms on a RedisStore, each sending ${REQUESTS_PER_PROCESS} requests at once.\n`,
    );

    // fork() runs this file again with the parent's execArgv, which under tsx holds its loader, so
    // the worker is TypeScript too and resolves 'rate-limited-client' the same way.
    const workerFile = fileURLToPath(import.meta.url);
    const workers = Array.from({ length: PROCESSES }, (_, index) => {
      const settings: WorkerSettings = { index, apiUrl: api.url, redisUrl, key };
      const child = fork(workerFile, ['worker', JSON.stringify(settings)]);
      children.push(child);
      return watchWorker<WorkerMessage<WorkerReport>>(child);
    });
    // Go only once every worker is connected, so they all compete for the quota from the same moment.
    await Promise.all(workers.map((worker) => worker.ready));
    for (const child of children) child.send('go');
    const results = await Promise.all(workers.map((worker) => worker.report));

    // --- The report. Arrivals are timestamped by the API in this process: one clock for all.
    const arrivals = api.arrivals();
    const statuses = api.statuses();
    const paths = api.paths();
    const refused = statuses.filter((status) => status === 429).length;
    const busiest = api.maxInAnyWindow(WINDOW_MS);

    console.log('Per process (as the API saw it, and as the worker did)');
    results.forEach((result, index) => {
      const mine = paths
        .map((path, i) => (path.startsWith(`/worker-${index}/`) ? statuses[i] : undefined))
        .filter((status) => status !== undefined);
      const ok = result.statuses.filter((status) => status === 200).length;
      console.log(
        `  #${index} pid ${children[index]?.pid}: ${mine.length} arrived, ${mine.filter((status) => status === 429).length} refused with 429; ` +
          `${ok}/${REQUESTS_PER_PROCESS} ok in ${(result.elapsedMs / 1000).toFixed(2)} s; ` +
          `${result.grants - result.fallbackGrants} starts granted by Redis in ${result.roundTrips} round trips, ${result.fallbackGrants} without it`,
      );
      for (const failure of result.failures) console.log(`      failed: ${failure}`);
      for (const error of result.storeErrors) console.log(`      error event: ${error}`);
    });

    const expected = PROCESSES * REQUESTS_PER_PROCESS;
    const ok = results.reduce((sum, result) => sum + result.statuses.filter((status) => status === 200).length, 0);
    // Every start must have been Redis's decision: one granted by the failure mode proves nothing here.
    const withoutRedis = results.reduce((sum, result) => sum + result.fallbackGrants, 0);
    const span = arrivals.length > 1 ? Math.max(...arrivals) - Math.min(...arrivals) : 0;
    const line = (label: string, value: string) => console.log(`  ${label.padEnd(24)}${value}`);
    console.log('\nTotal');
    line('requests:', `${ok}/${expected} ok, ${arrivals.length} arrived over ${(span / 1000).toFixed(2)} s`);
    line('429s answered:', String(refused));
    line('granted without Redis:', String(withoutRedis));
    line(`busiest ${WINDOW_MS} ms window:`, `${busiest} arrivals across all processes (limit ${LIMIT})`);
    line(
      'without the store:',
      `each process would allow itself ${LIMIT}: up to ${PROCESSES * LIMIT} in one window, ${PROCESSES}x the quota`,
    );

    const failed = busiest > LIMIT || refused > 0 || ok !== expected || arrivals.length !== expected || withoutRedis > 0;
    console.log(`\n${failed ? 'FAILED' : 'OK'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
    process.exitCode = failed ? 1 : 0;
  } catch (error) {
    console.error('FAILED:', error);
    process.exitCode = 1;
  } finally {
    // Workers still running only after an error above; they must not outlive the example.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
    await api.close();
    await redisServer.stop();
  }
}
