/**
 * One process of the Redis benchmark (`bench/redis.ts`): a RateLimitedClient with a RedisStore on a
 * shared key, run by `spawnScriptWorker` (settings in RLC_SETTINGS; prints `ready`, waits for a line on
 * stdin, runs, prints its report as JSON on its last line).
 *
 * Either a backlog (every task queued at once) or spaced starts (one task queued every `spacingMs`).
 * Besides the store's own counters it counts what the store's counters can not show: how often the
 * store woke its client (a wrapper around the context `open()` is given), and how many announcements
 * were published on the store's channel (heard by a subscriber of its own, as every process's store
 * hears them once it has subscribed).
 */
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { StoreContext } from '../../src/core/store.js';
import { RateLimitedClient, type RateWindow } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import type { RedisStoreStats } from '../../src/stores/redis-options.js';
import { KeyLayout } from '../../src/stores/redis-key-layout.js';

export interface RedisWorkerSettings {
  url: string;
  key: string;
  /** Tasks this process runs. */
  tasks: number;
  /** The client's `concurrency`, shared through the store by every process on the key. */
  concurrency: number;
  rateLimit?: RateWindow;
  /** How long each task runs (a timer); 0: a no-op task. */
  taskMs: number;
  /** 0: every task queued at once (a backlog); else one task queued every `spacingMs`. */
  spacingMs: number;
  /** Report each task's start and end (epoch ms), to check the shared limits held. */
  trace: boolean;
}

export interface RedisWorkerReport {
  stats: RedisStoreStats;
  /** Times the store woke the client (`StoreContext.wake`). */
  wakes: number;
  /** Announcements published on the store's channel while the tasks ran (settles, releases, refunds). */
  announcements: number;
  /** From `go` to the last task's end, ms. */
  elapsedMs: number;
  /** This process's CPU (user + system) over the run, ms. */
  cpuMs: number;
  /** Event-loop delay over the run (10 ms resolution), ms. */
  loopDelay: { p50: number; p99: number; max: number };
  /** Epoch ms (performance.timeOrigin + performance.now()), when `trace`. */
  starts: number[];
  ends: number[];
  errors: string[];
}

const settings = JSON.parse(process.env.RLC_SETTINGS ?? '') as RedisWorkerSettings;
const epochNow = () => performance.timeOrigin + performance.now();

const redis = new Redis(settings.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
const errors: string[] = [];
redis.on('error', (error: Error) => errors.push(`redis: ${error.message}`));
const store = new RedisStore({ redis, key: settings.key });

let wakes = 0;
const open = store.open.bind(store);
store.open = (context: StoreContext) =>
  open({
    ...context,
    wake: () => {
      wakes++;
      context.wake();
    },
  });
const client = new RateLimitedClient({
  store,
  concurrency: settings.concurrency,
  ...(settings.rateLimit === undefined ? {} : { rateLimit: settings.rateLimit }),
});
client.on('error', (error: unknown) => errors.push(`client: ${String(error)}`));

let announcements = 0;
let counting = false;
const listener = redis.duplicate();
listener.on('error', (error: unknown) => errors.push(`listener: ${String(error)}`));
listener.on('message', () => {
  if (counting) announcements++;
});
// Subscribed once ready: ioredis's ready check (INFO) on a connection already subscribed fails.
for (const connection of [redis, listener]) {
  if (connection.status !== 'ready') await new Promise((resolve) => connection.once('ready', resolve));
}
await listener.subscribe(new KeyLayout(settings.key).channel);

const starts: number[] = [];
const ends: number[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const task = async () => {
  if (settings.trace) starts.push(epochNow());
  if (settings.taskMs > 0) await sleep(settings.taskMs);
  if (settings.trace) ends.push(epochNow());
};

console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
lines.close();

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
counting = true;
const cpuBefore = process.cpuUsage();
const begin = performance.now();
const all: Array<Promise<void>> = [];
if (settings.spacingMs === 0) {
  for (let i = 0; i < settings.tasks; i++) all.push(client.schedule(task));
} else {
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      all.push(client.schedule(task));
      if (all.length >= settings.tasks) {
        clearInterval(timer);
        resolve();
      }
    }, settings.spacingMs);
  });
}
const outcomes = await Promise.allSettled(all);
const elapsedMs = performance.now() - begin;
const cpu = process.cpuUsage(cpuBefore);
delay.disable();
for (const outcome of outcomes) if (outcome.status === 'rejected') errors.push(`task: ${String(outcome.reason)}`);
await client.close();
// The last announcements (this process's own releases among them) are still on their way.
await sleep(50);
counting = false;
listener.disconnect();
redis.disconnect();

const ms = (ns: number) => ns / 1e6;
const report: RedisWorkerReport = {
  stats: store.stats(),
  wakes,
  announcements,
  elapsedMs,
  cpuMs: (cpu.user + cpu.system) / 1000,
  loopDelay: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
  starts,
  ends,
  errors: errors.slice(0, 10),
};
console.log(JSON.stringify(report));
process.exit(0);
