/**
 * Real Node processes on one RedisStore key act as one client (issue 15's "Done when" (a), (b), (e)):
 * - a 429 with `Retry-After: 1` heard by one process holds every process: the server sees nothing for
 *   the next 950 ms, once the word has reached Redis;
 * - a process submitting priority-0 work while two others hold priority-10 backlogs starts it within one
 *   window plus a round trip, before any priority-10 task not yet granted;
 * - a process killed with SIGKILL gives its shared concurrency back within ~2 s (the default lease).
 *
 * The workers are this file's `WORKER` script (see test/support/script-worker.ts), each with its own
 * RateLimitedClient and RedisStore. Times are epoch ms that processes on one machine share
 * (`performance.timeOrigin + performance.now()`).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { spawnScriptWorker, type ScriptWorker } from '../support/script-worker.js';

interface Settings {
  url: string;
  key: string;
  mode: 'requests' | 'tasks' | 'hold';
  /** Tasks (or requests) to run, and their priority. */
  count: number;
  priority: number;
  rateLimit?: { limit: number; windowMs: number };
  concurrency?: number;
  baseUrl?: string;
  /** How long each task runs (ms; 0 when not set). */
  taskMs?: number;
}

interface WorkerReport {
  /** When each task started (epoch ms). */
  starts: number[];
  /** When the work was submitted, after `go`. */
  submittedAt: number;
  statuses: number[];
  errors: string[];
}

const WORKER = `
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { RateLimitedClient } from './src/index.js';
import { RedisStore } from './src/redis.js';

const settings = JSON.parse(process.env.RLC_SETTINGS);
const epochNow = () => performance.timeOrigin + performance.now();
const redis = new Redis(settings.url, { maxRetriesPerRequest: 1 });
redis.on('error', () => {});
const client = new RateLimitedClient({
  baseUrl: settings.baseUrl,
  rateLimit: settings.rateLimit,
  concurrency: settings.concurrency ?? 100,
  store: new RedisStore({ redis, key: settings.key }),
});
const errors = [];
client.on('error', (error) => errors.push(String(error?.message ?? error)));
if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
lines.close();
const submittedAt = epochNow();
const starts = [];
const statuses = [];
const options = { priority: settings.priority };
if (settings.mode === 'hold') {
  // Tasks that never end, holding the shared concurrency until this process is killed.
  for (let i = 0; i < settings.count; i++) {
    void client.schedule(() => { starts.push(epochNow()); return new Promise(() => {}); }, options);
  }
  await client.onEmpty();
  console.log('holding');
  await new Promise(() => {});
}
const work = Array.from({ length: settings.count }, (_, i) =>
  settings.mode === 'requests'
    ? client.get('/item/' + i, options).then((response) => { statuses.push(response.status); }, (error) => { errors.push(String(error?.message ?? error)); })
    : client.schedule(async () => {
        starts.push(epochNow());
        if (settings.taskMs) await new Promise((resolve) => setTimeout(resolve, settings.taskMs));
      }, options),
);
await Promise.all(work);
await client.close();
redis.disconnect();
console.log(JSON.stringify({ starts, submittedAt, statuses, errors }));
`;

describeWithRedis('RedisStore: real processes act as one client', () => {
  let redis: RedisServer;
  let keyCount = 0;
  const workers: Array<ScriptWorker<WorkerReport>> = [];

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const worker of workers) worker.kill();
    await redis?.stop();
  });

  function spawn(settings: Omit<Settings, 'url'>): ScriptWorker<WorkerReport> {
    const worker = spawnScriptWorker<WorkerReport>(WORKER, { url: redis.url, ...settings });
    workers.push(worker);
    return worker;
  }

  it('a Retry-After heard by one process holds all three: no request reaches the server for the next 950 ms', async () => {
    // The server refuses its 40th arrival with Retry-After: 1 and answers every other. Arrivals come at
    // most 10 per 100 ms, so requests are on their way from every process when the refusal is heard.
    const arrivals: number[] = [];
    let refusedAt = 0;
    const api: Server = createServer((_request, response) => {
      const at = performance.timeOrigin + performance.now();
      arrivals.push(at);
      if (arrivals.length === 40) {
        refusedAt = at;
        response.writeHead(429, { 'retry-after': '1' }).end();
      } else {
        response.writeHead(200).end('ok');
      }
    });
    api.listen(0, '127.0.0.1');
    await once(api, 'listening');
    const baseUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    try {
      const key = `fleet-${++keyCount}`;
      const fleet = [0, 1, 2].map(() =>
        spawn({ key, mode: 'requests', count: 40, priority: 0, rateLimit: { limit: 10, windowMs: 100 }, concurrency: 10, baseUrl }),
      );
      await Promise.all(fleet.map((worker) => worker.ready));
      for (const worker of fleet) worker.go();
      const reports = await Promise.all(fleet.map((worker) => worker.report));
      // Every request ended: the refused one was retried after its Retry-After, by its own process.
      expect(reports.flatMap((report) => report.errors)).toEqual([]);
      expect(reports.flatMap((report) => report.statuses).sort()).toEqual(Array.from({ length: 120 }, () => 200));
      expect(arrivals).toHaveLength(121);
      // Requests granted before the word reached Redis were already on their way: the word needs the
      // refusal's trip back to its process and one round trip to Redis, and a request granted just
      // before may still be in its process's event loop. On a loaded 2-core machine (load 6-10 while
      // this was written) such requests arrived up to 25 ms after the 429; 50 ms is the bound. After
      // that, nothing for the rest of the 950 ms.
      const inFlight = arrivals.filter((at) => at > refusedAt && at <= refusedAt + 50);
      const during = arrivals.filter((at) => at > refusedAt + 50 && at <= refusedAt + 950);
      const offsets = arrivals.filter((at) => at > refusedAt).map((at) => Math.round(at - refusedAt));
      console.log(
        `after the 429: ${inFlight.length} arrivals already on their way (first 50 ms), ${during.length} in the next 900 ms; offsets ${offsets.slice(0, 8).join(', ')} ms`,
      );
      expect(during).toEqual([]);
      // And the pause was the cooldown, not the end of the work: requests came after it.
      expect(arrivals.filter((at) => at > refusedAt + 950).length).toBeGreaterThan(10);
    } finally {
      api.close();
    }
  }, 30_000);

  it('priority-0 work of one process starts within a window and a round trip, before priority-10 backlogs of two others', async () => {
    const key = `fleet-${++keyCount}`;
    const rateLimit = { limit: 10, windowMs: 200 };
    const batch = [0, 1].map(() => spawn({ key, mode: 'tasks', count: 60, priority: 10, rateLimit }));
    const user = spawn({ key, mode: 'tasks', count: 5, priority: 0, rateLimit });
    await Promise.all([...batch, user].map((worker) => worker.ready));
    for (const worker of batch) worker.go();
    // The backlogs have taken a few windows when the user-facing work comes.
    await new Promise((resolve) => setTimeout(resolve, 450));
    user.go();
    const reports = await Promise.all([...batch, user].map((worker) => worker.report));
    const urgent = reports[2] as WorkerReport;
    const batchStarts = reports.slice(0, 2).flatMap((report) => report.starts);
    expect(batchStarts).toHaveLength(120);
    expect(urgent.starts).toHaveLength(5);
    const submitted = urgent.submittedAt;
    const lastUrgent = Math.max(...urgent.starts);
    // Within one window (the longest any start must wait for room) plus a round trip and the
    // processes' timers: 100 ms more is generous on loopback.
    expect(lastUrgent - submitted).toBeLessThan(rateLimit.windowMs + 100);
    // No priority-10 task granted after the user's word reached Redis (its first acquire: one round
    // trip after it was submitted, which took up to 20 ms on a loaded 2-core machine; 50 ms is the
    // bound) started before the last priority-0 one. Order is promised for grants, not for when each
    // process gets round to running its task: a priority-10 task granted just after the last priority-0
    // one (whose grant took the word back) may begin a moment before it, its process being quicker (0.4
    // ms seen under load). 2 ms allows for that.
    const overtaking = batchStarts.filter((at) => at > submitted + 50 && at < lastUrgent - 2);
    console.log(
      `priority 0: submitted to last start ${(lastUrgent - submitted).toFixed(1)} ms; priority-10 starts in between: ${overtaking.length}` +
        ` (at ${overtaking.map((at) => (at - submitted).toFixed(1)).join(', ')} ms; priority 0 at ${urgent.starts.map((at) => (at - submitted).toFixed(1)).join(', ')} ms)`,
    );
    expect(overtaking).toEqual([]);
  }, 30_000);

  it('4 processes sharing a concurrency of 4 are woken one at a time, and none waits for a wake that never comes', async () => {
    const key = `fleet-${++keyCount}`;
    const fleet = [0, 1, 2, 3].map(() => spawn({ key, mode: 'tasks', count: 250, priority: 0, concurrency: 4, taskMs: 3 }));
    await Promise.all(fleet.map((worker) => worker.ready));
    for (const worker of fleet) worker.go();
    const reports = await Promise.all(fleet.map((worker) => worker.report));
    const starts = reports.flatMap((report) => report.starts).sort((a, b) => a - b);
    expect(starts).toHaveLength(1_000);
    // 1 000 tasks of 3 ms, 4 at a time: 750 ms of work; the bench measures about 1.2 s with the round
    // trips. The line is first come first served, so each process starts a task every few ms. One left
    // waiting for a wake that already came (or never comes) waits out its lease's lapse, 2 s: no
    // process's gap between two of its starts may come near it.
    let longest = 0;
    for (const report of reports) {
      for (let i = 1; i < report.starts.length; i++)
        longest = Math.max(longest, (report.starts[i] as number) - (report.starts[i - 1] as number));
    }
    console.log(
      `4 processes, concurrency 4: ${((starts.at(-1) as number) - (starts[0] as number)).toFixed(0)} ms, longest gap in a process ${longest.toFixed(0)} ms`,
    );
    expect(longest).toBeLessThan(1_000);
  }, 30_000);

  it("a process killed with SIGKILL gives the fleet's concurrency back within ~2 s", async () => {
    const key = `fleet-${++keyCount}`;
    const holder = spawn({ key, mode: 'hold', count: 2, priority: 0, concurrency: 2 });
    // Its report never comes: it is killed.
    holder.report.catch(() => {});
    await holder.ready;
    holder.go();
    await waitForLine(holder, 'holding');
    const waiter = spawn({ key, mode: 'tasks', count: 1, priority: 0, concurrency: 2 });
    await waiter.ready;
    waiter.go();
    // The waiter is refused (both units are held) before the holder dies.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const killedAt = performance.timeOrigin + performance.now();
    holder.kill();
    const report = await waiter.report;
    const recovery = (report.starts[0] ?? Infinity) - killedAt;
    console.log(`concurrency back ${recovery.toFixed(0)} ms after the SIGKILL`);
    // The default lease is 2 s, renewed every 2/3 s: what the dead process held lapses 1.3-2 s after
    // the kill; the waiter asks again when the first lease can expire. 500 ms for a loaded machine.
    expect(recovery).toBeLessThan(2_500);
    expect(recovery).toBeGreaterThan(0);
  }, 30_000);
});

/** Resolves once the worker has printed `line`. */
function waitForLine(worker: ScriptWorker<WorkerReport>, line: string): Promise<void> {
  return worker.output((text) => text.includes(`\n${line}\n`));
}
