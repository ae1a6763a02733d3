/**
 * A fleet: four processes that act as one client through a `RedisStore`.
 *
 *   npx tsx examples/fleet.ts
 *
 * The parent starts a local mock API that allows 20 requests in any 1 000 ms (counted when they
 * arrive, 429 beyond that), a Redis, and 4 worker processes, each with its own `RateLimitedClient` on
 * the same `RedisStore` key:
 *   A, B  batch jobs: one priority-10 request every 100 ms each, 40 in all;
 *   C     user-facing: from 1.5 s on, 4 priority-0 requests every 500 ms;
 *   D     mixed: one priority-10 request every 200 ms (15), and one priority-0 request every 500 ms
 *         from 1 s on.
 * The batch work alone asks for more than the quota, so A, B and D hold growing backlogs.
 * From 4 s on, the API goes down for maintenance: it answers the next request to arrive with `429`
 * and `Retry-After: 1`, and refuses everything for that second.
 *
 * It prints, once a second, how many tasks each process started (and how many it still has queued)
 * beside what the API saw (arrivals, 429s), then a summary: per process, what it started and how long
 * its tasks waited in the queue by priority; for the API, the busiest window against the limit and
 * the 429s.
 *
 * What the fleet shares besides the windows and the concurrency:
 * - the server's word: the process that hears the maintenance 429 holds every process on the key, so
 *   no request reaches the API for the rest of that second (after one round trip to Redis);
 * - priorities: C's priority-0 requests start before the priority-10 backlogs of A, B and D, so they
 *   wait less than a window even while those backlogs hold most of the queue. (With priorities kept
 *   in each process, C would get only its turn among the four and its queue would grow.)
 *
 * It exits with code 1 when the API saw more than the limit in any window, when a request did not
 * succeed, when a promise never settled, when any request arrived during the announced cooldown
 * after one round trip, or when the median wait of priority-0 tasks was a window or more.
 *
 * Redis: set `REDIS_URL` (e.g. `REDIS_URL=redis://127.0.0.1:6379`) to use a running one; otherwise
 * the example starts `redis-server` from PATH on a free port, with nothing written to disk, and stops
 * it at the end. examples/multi-process-redis.ts shows the same store with the options spelled out.
 */
import { type ChildProcess, fork } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { DIAGNOSTICS_CHANNELS, RateLimitedClient, type TaskMessage } from 'rate-limited-client';
import { RedisStore } from 'rate-limited-client/redis';
import { openExampleRedis } from './support/local-redis.js';
import { startFleetApi } from './support/mock-fleet-api.js';
import { type WorkerMessage, watchWorker } from './support/worker-process.js';

const LIMIT = 20;
const WINDOW_MS = 1_000;
/** Shared by the fleet too: at most 8 requests in flight across all four processes. */
const CONCURRENCY = 8;
/** When the API goes down for maintenance, from the go, and for how long (its `Retry-After`). */
const MAINTENANCE_AT_MS = 4_000;
const MAINTENANCE_S = 1;
/**
 * The cooldown holds the fleet once it has crossed Redis: a request already granted or on the wire
 * when the 429 was heard may still arrive up to this long after it; none may after that.
 */
const ROUND_TRIP_MS = 50;
/** A worker whose requests have not all settled by then reports the rest as lost. */
const DEADLINE_MS = 15_000;

/** Requests a process queues: `burst` at once, `times` times, every `everyMs` from `fromMs` after the go. */
interface Feed {
  priority: number;
  fromMs: number;
  everyMs: number;
  burst: number;
  times: number;
}

interface Plan {
  name: string;
  role: string;
  feeds: Feed[];
}

// Together the batch work alone asks for 25 requests a second against a quota of 20, so the backlogs
// grow from the first second; the priority-0 work adds 10 a second from 1-1.5 s on.
const PLANS: Plan[] = [
  { name: 'A', role: 'batch', feeds: [{ priority: 10, fromMs: 0, everyMs: 100, burst: 1, times: 40 }] },
  { name: 'B', role: 'batch', feeds: [{ priority: 10, fromMs: 0, everyMs: 100, burst: 1, times: 40 }] },
  { name: 'C', role: 'user-facing', feeds: [{ priority: 0, fromMs: 1_500, everyMs: 500, burst: 4, times: 11 }] },
  {
    name: 'D',
    role: 'mixed',
    feeds: [
      { priority: 10, fromMs: 0, everyMs: 200, burst: 1, times: 15 },
      { priority: 0, fromMs: 1_000, everyMs: 500, burst: 1, times: 11 },
    ],
  },
];

/** What the parent tells each worker on its command line. */
interface WorkerSettings {
  index: number;
  apiUrl: string;
  redisUrl: string;
  key: string;
}

/** A task's start, as its process saw it: `at` on the wall clock (timeOrigin + now), so another process can place it. */
interface Start {
  at: number;
  priority: number;
  waitMs: number;
}

interface WorkerReport {
  submitted: number;
  /** Requests answered 2xx in the end (after any retries). */
  ok: number;
  /** What every other request ended with. */
  failures: string[];
  /** Requests whose promise had not settled by DEADLINE_MS. */
  lost: number;
  starts: Start[];
  /** `rate-limited` events: the server's word as this process heard it. */
  heard: number;
  storeErrors: string[];
  fallbackGrants: number;
}

type FleetMessage = WorkerMessage<WorkerReport, { type: 'start'; start: Start } | { type: 'queued'; at: number; queued: number }>;

if (process.argv[2] === 'worker') await worker(JSON.parse(process.argv[3] as string) as WorkerSettings);
else await parent();

// --- A worker: what each replica of a real service would run.

async function worker({ index, apiUrl, redisUrl, key }: WorkerSettings): Promise<void> {
  const plan = PLANS[index] as Plan;
  const send = (message: FleetMessage): void => void process.send?.(message);

  // Fail fast while Redis is down instead of queueing commands in ioredis (see docs/fleet.md).
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => {}); // outages reach the client's `error` event as StoreError
  const store = new RedisStore({ redis, key });
  // Every process of the fleet gives the same limits: the store holds them to one quota together.
  const client = new RateLimitedClient({
    name: plan.name,
    baseUrl: apiUrl,
    concurrency: CONCURRENCY,
    rateLimit: { limit: LIMIT, windowMs: WINDOW_MS },
    store,
    // Retries stay on (the default): the maintenance 429 is retried after its Retry-After.
  });
  const storeErrors: string[] = [];
  client.on('error', (error) => storeErrors.push(error instanceof Error ? error.message : String(error)));
  let heard = 0;
  client.on('rate-limited', () => heard++);

  // Each start, with its wait in the queue, from the client's own diagnostics channel.
  const starts: Start[] = [];
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.taskStart, (message) => {
    const task = message as TaskMessage;
    const startedAt = task.startedAt ?? performance.now();
    const start = { at: performance.timeOrigin + startedAt, priority: task.priority, waitMs: startedAt - task.enqueuedAt };
    starts.push(start);
    send({ type: 'start', start });
  });

  if (redis.status !== 'ready') await once(redis, 'ready');
  send({ type: 'ready' });
  await once(process, 'message'); // the parent's go
  const goAt = performance.now();

  let ok = 0;
  let settled = 0;
  const failures: string[] = [];
  const requests: Array<Promise<void>> = [];
  const submit = (priority: number, i: number): void => {
    // A status outside 200-299 rejects with HttpError once its retries are used up.
    const request = client.get(`/${plan.name}/p${priority}/${i}`, { priority }).then(
      () => {
        ok++;
      },
      (error: unknown) => void failures.push(error instanceof Error ? error.message : String(error)),
    );
    requests.push(request.finally(() => settled++));
  };
  const sendQueued = (): void => send({ type: 'queued', at: performance.timeOrigin + performance.now(), queued: client.stats().queued });
  const queued = setInterval(sendQueued, 250);

  // The plan's feeds merged into one timeline, each burst queued at its moment (not before: the
  // queue must not know of work that has not "arrived" yet).
  const bursts = plan.feeds
    .flatMap((feed) => Array.from({ length: feed.times }, (_, time) => ({ ...feed, atMs: feed.fromMs + time * feed.everyMs })))
    .sort((x, y) => x.atMs - y.atMs);
  let n = 0;
  for (const { atMs, burst, priority } of bursts) {
    const delay = atMs - (performance.now() - goAt);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    for (let j = 0; j < burst; j++) submit(priority, n++);
  }
  const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), DEADLINE_MS - (performance.now() - goAt)).unref());
  const ended = await Promise.race([Promise.all(requests), deadline]);
  clearInterval(queued);
  sendQueued();
  const lost = requests.length - settled;
  const report: WorkerReport = {
    submitted: requests.length,
    ok,
    failures,
    lost,
    starts,
    heard,
    storeErrors,
    fallbackGrants: store.stats().fallbackGrants,
  };
  if (ended === 'late') {
    // Work that never settled keeps this process alive: report it, then leave without it.
    process.send?.({ type: 'done', ...report }, () => process.exit(0));
    return;
  }
  await client.close();
  // The store never closes the connection it was given: that is ours to quit.
  await redis.quit();
  send({ type: 'done', ...report });
}

// --- The parent: the API, Redis, the workers, the live view and the verdict.

async function parent(): Promise<void> {
  const t0 = performance.now();
  const redisServer = await openExampleRedis();
  if (redisServer === null) {
    process.exitCode = 1;
    return;
  }
  const api = await startFleetApi({ limit: LIMIT, windowMs: WINDOW_MS });
  const children: ChildProcess[] = [];
  // What the workers tell as it happens, on this process's clock (performance.now()).
  const starts: Start[][] = PLANS.map(() => []);
  const queuedSamples: Array<Array<{ at: number; queued: number }>> = PLANS.map(() => []);
  const local = (wallClock: number): number => wallClock - performance.timeOrigin;
  let ticker: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  try {
    // A fresh key per run, so that a shared REDIS_URL holding an earlier run's starts does not slow this one.
    const key = `example-fleet-${process.pid}-${Date.now()}`;
    console.log(`Mock API at ${api.url}: ${LIMIT} requests per ${WINDOW_MS} ms, counted on arrival; 429 beyond that.`);
    console.log(`Redis at ${redisServer.url} ${redisServer.origin}, key '${key}'.`);
    console.log(
      `${PLANS.length} processes, each with rateLimit ${LIMIT} per ${WINDOW_MS} ms and concurrency ${CONCURRENCY} on that RedisStore:`,
    );
    for (const plan of PLANS) console.log(`  ${plan.name} ${plan.role.padEnd(12)} ${plan.feeds.map(describeFeed).join(', and ')}`);
    console.log(
      `From ${MAINTENANCE_AT_MS / 1000} s on, the API goes down for maintenance: the next request gets 429 with Retry-After: ${MAINTENANCE_S}, and every request is refused for that long.\n`,
    );

    // fork() runs this file again with the parent's execArgv, which under tsx holds its loader, so
    // the worker is TypeScript too and resolves 'rate-limited-client' the same way.
    const workerFile = fileURLToPath(import.meta.url);
    const workers = PLANS.map((_, index) => {
      const settings: WorkerSettings = { index, apiUrl: api.url, redisUrl: redisServer.url, key };
      const child = fork(workerFile, ['worker', JSON.stringify(settings)]);
      children.push(child);
      return watchWorker<FleetMessage>(child, (message) => {
        if (message.type === 'start') starts[index]?.push({ ...message.start, at: local(message.start.at) });
        else queuedSamples[index]?.push({ at: local(message.at), queued: message.queued });
      });
    });
    // Go only once every worker is connected, so that they all compete from the same moment.
    await Promise.all(workers.map((worker) => worker.ready));
    const go = performance.now();
    api.scheduleMaintenance(go + MAINTENANCE_AT_MS, MAINTENANCE_S);
    for (const child of children) child.send('go');
    // Workers end by themselves (a lost promise included); this only catches one that hangs.
    watchdog = setTimeout(() => {
      for (const child of children) child.kill();
    }, DEADLINE_MS + 5_000);

    // --- Live: one line per second of the run, once its starts have had time to arrive over IPC.
    const second = (k: number) => ({ from: go + k * 1_000, to: go + (k + 1) * 1_000 });
    console.log(`Live, one line a second. Each process: tasks started in that second (tasks still queued at its end). API: what arrived.`);
    console.log(`  ${'second'.padEnd(8)}${PLANS.map((plan) => `${plan.name} ${plan.role}`.padEnd(15)).join('')}| arrivals  429s`);
    let printed = 0;
    const printUpTo = (end: number): void => {
      for (; printed < end; printed++) {
        const { from, to } = second(printed);
        const cells = PLANS.map((_, index) => {
          const started = (starts[index] ?? []).filter((start) => start.at >= from && start.at < to).length;
          const queued = (queuedSamples[index] ?? []).filter((sample) => sample.at < to).at(-1)?.queued ?? 0;
          return `${started} (${queued})`.padEnd(15);
        });
        const arrived = api.arrivals.filter((arrival) => arrival.at >= from && arrival.at < to);
        const refused = arrived.filter((arrival) => api.refusedFor(arrival) !== undefined).length;
        const m = api.maintenance();
        const note =
          m !== undefined && m.at >= from && m.at < to
            ? `  <- maintenance: 429 with Retry-After: ${MAINTENANCE_S} to ${processOf(m.path)} at ${seconds(m.at - go)}`
            : '';
        console.log(
          `  ${`${printed}-${printed + 1}`.padEnd(8)}${cells.join('')}| ${String(arrived.length).padStart(8)}  ${String(refused).padStart(4)}${note}`,
        );
      }
    };
    ticker = setInterval(() => printUpTo(Math.floor((performance.now() - go - 200) / 1_000)), 100);
    const reports = await Promise.all(workers.map((worker) => worker.report));
    clearInterval(ticker);
    const lastEvent = Math.max(...api.arrivals.map((arrival) => arrival.at), ...starts.flat().map((start) => start.at));
    printUpTo(Math.floor((lastEvent - go) / 1_000) + 1);

    // --- The summary.
    console.log(`\nPer process (waits: from entering its queue to starting, per attempt)`);
    console.log(
      `  ${'process'.padEnd(16)}${'requests'.padStart(9)}${'ok'.padStart(5)}${'starts'.padStart(8)}${'heard'.padStart(7)}   ${'priority 0: median / max'.padEnd(27)}priority 10: median / max`,
    );
    reports.forEach((report, index) => {
      const plan = PLANS[index] as Plan;
      const waits = (priority: number) => report.starts.filter((start) => start.priority === priority).map((start) => start.waitMs);
      console.log(
        `  ${`${plan.name} ${plan.role}`.padEnd(16)}${String(report.submitted).padStart(9)}${String(report.ok).padStart(5)}` +
          `${String(report.starts.length).padStart(8)}${String(report.heard).padStart(7)}   ${spread(waits(0)).padEnd(27)}${spread(waits(10))}`,
      );
      for (const failure of report.failures) console.log(`      failed: ${failure}`);
      if (report.lost > 0) console.log(`      lost: ${report.lost} promises never settled within ${DEADLINE_MS / 1000} s`);
      for (const error of report.storeErrors) console.log(`      error event: ${error}`);
    });
    console.log(`  ("heard": the server's word as that process's 'rate-limited' events reported it)`);

    const arrivals = api.arrivals;
    const refusals = (reason: 'quota' | 'maintenance') => arrivals.filter((arrival) => api.refusedFor(arrival) === reason).length;
    const busiest = api.maxInAnyWindow(WINDOW_MS);
    const m = api.maintenance();
    const duringCooldown =
      m === undefined ? NaN : arrivals.filter((arrival) => arrival.at >= m.at + ROUND_TRIP_MS && arrival.at < m.until).length;
    const priority0 = reports.flatMap((report) => report.starts.filter((start) => start.priority === 0).map((start) => start.waitMs));
    const priority0Median = median(priority0);
    const span = (Math.max(...arrivals.map((arrival) => arrival.at)) - go) / 1000;
    const line = (label: string, value: string) => console.log(`  ${label.padEnd(26)}${value}`);
    console.log('\nAPI');
    line(
      'arrivals:',
      `${arrivals.length} in ${span.toFixed(1)} s, ${arrivals.length - refusals('quota') - refusals('maintenance')} served`,
    );
    line(`busiest ${WINDOW_MS} ms window:`, `${busiest} arrivals (limit ${LIMIT})`);
    line('429s:', `${refusals('maintenance')} for the maintenance (the first one announced it), ${refusals('quota')} for the quota`);
    if (m !== undefined) {
      line(
        'during the cooldown:',
        `${duringCooldown} arrivals from ${ROUND_TRIP_MS} ms after the first 429 (at ${seconds(m.at - go)}) to its end at ${seconds(m.until - go)}`,
      );
    }
    line('priority-0 waits:', `${spread(priority0)} (median / max; one window is ${WINDOW_MS} ms)`);

    const submitted = reports.reduce((sum, report) => sum + report.submitted, 0);
    const ok = reports.reduce((sum, report) => sum + report.ok, 0);
    const lost = reports.reduce((sum, report) => sum + report.lost, 0);
    const withoutRedis = reports.reduce((sum, report) => sum + report.fallbackGrants, 0);
    const checks: Array<[passed: boolean, text: string]> = [
      [
        busiest <= LIMIT && refusals('quota') === 0,
        `no window over the limit (${busiest} of ${LIMIT} at most, ${refusals('quota')} refused for the quota)`,
      ],
      [ok === submitted && lost === 0, `every request succeeded, no promise lost (${ok} of ${submitted} ok, ${lost} lost)`],
      [withoutRedis === 0, `every start granted by Redis (${withoutRedis} without it)`],
      [m !== undefined, 'the maintenance came while the fleet was busy'],
      [duringCooldown === 0, `no arrival during the announced cooldown after one round trip (${duringCooldown})`],
      [priority0Median < WINDOW_MS, `priority 0 waits under one window beside the others' backlogs (median ${ms(priority0Median)})`],
    ];
    console.log('\nChecks');
    for (const [passed, text] of checks) console.log(`  ${passed ? 'ok  ' : 'FAIL'}  ${text}`);
    const failed = checks.some(([passed]) => !passed);
    console.log(`\n${failed ? 'FAILED' : 'OK'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
    process.exitCode = failed ? 1 : 0;
  } catch (error) {
    console.error('FAILED:', error);
    process.exitCode = 1;
  } finally {
    clearInterval(ticker);
    clearTimeout(watchdog);
    // Workers still running only after an error above; they must not outlive the example.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
    await api.close();
    await redisServer.stop();
  }
}

function describeFeed({ priority, fromMs, everyMs, burst, times }: Feed): string {
  const each = burst === 1 ? `one priority-${priority} request` : `${burst} priority-${priority} requests`;
  return `${each} every ${everyMs} ms from ${seconds(fromMs)} (${burst * times} in all)`;
}

/** The worker a path came from: paths are `/<process>/p<priority>/<i>`. */
function processOf(path: string): string {
  return path.split('/')[1] ?? '?';
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length === 0
    ? NaN
    : sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function spread(values: number[]): string {
  return values.length === 0 ? '-' : `${ms(median(values))} / ${ms(Math.max(...values))}`;
}

function ms(value: number): string {
  return Number.isNaN(value) ? '-' : value < 1_000 ? `${Math.round(value)} ms` : seconds(value);
}

function seconds(value: number): string {
  return `${(value / 1000).toFixed(2)} s`;
}
