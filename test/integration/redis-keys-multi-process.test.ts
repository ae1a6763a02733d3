/**
 * Three Node processes share 100 tenant keys through a RedisStore on a real redis-server: each key's own
 * window (3 per 400 ms) holds over the starts of all processes together, as does the client's, and the
 * Redis state of every key expires once the keys are idle.
 *
 * The workers are this file's own `WORKER` script, run by Node with tsx from the repository root. They
 * drive the store as a scheduler would (one acquire at a time; a key refused by its own windows waits
 * out its wait while other keys go on), without depending on the client's keyed scheduling. Times are
 * epoch ms that processes on one machine share (`performance.timeOrigin + performance.now()`).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { maxInAnyWindow } from '../../examples/support/window-count.js';
import { RedisScripts } from '../../src/stores/redis-scripts.js';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { spawnScriptWorker } from '../support/script-worker.js';

interface Settings {
  url: string;
  key: string;
  keys: number;
  tasksPerKey: number;
  keyLimit: number;
  clientLimit: number;
  windowMs: number;
}

interface WorkerReport {
  starts: Array<{ key: string; at: number }>;
  errors: string[];
  grants: number;
  refusals: number;
  byKey: number;
}

/** A worker: settings in RLC_SETTINGS; prints `ready`, waits for a line on stdin, runs, prints its report. */
const WORKER = `
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { RedisStore } from './src/redis.js';

const settings = JSON.parse(process.env.RLC_SETTINGS);
const epochNow = () => performance.timeOrigin + performance.now();
const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const redis = new Redis(settings.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
redis.on('error', () => {});
const store = new RedisStore({ redis, key: settings.key });
let wakeUp = () => {};
const errors = [];
store.open({
  limits: { windows: [{ limit: settings.clientLimit, windowMs: settings.windowMs, counts: 'requests' }], concurrency: Infinity },
  clock: { now },
  wake: () => wakeUp(),
  report: (error) => errors.push(String(error?.message ?? error)),
});
const names = Array.from({ length: settings.keys }, (_, i) => 'tenant-' + i);
for (const name of names) store.setKeyLimits(name, [{ limit: settings.keyLimit, windowMs: settings.windowMs, counts: 'requests' }], now());
if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));

// What is left to start per key, and until when a key refused by its own windows waits.
const left = new Map(names.map((name) => [name, settings.tasksPerKey]));
const parkedUntil = new Map();
const starts = [];
let grants = 0, refusals = 0, byKey = 0;
while (left.size > 0) {
  let clientWait = Infinity;
  let progressed = false;
  for (const name of [...left.keys()]) {
    if ((parkedUntil.get(name) ?? 0) > now()) continue;
    const slot = { weight: 1, cost: null, settleAtStart: true, storeData: undefined, key: name };
    const wait = await store.acquire(slot, now());
    if (wait === 0) {
      starts.push({ key: name, at: epochNow() });
      grants++;
      store.settle(slot, now());
      store.release(slot, now());
      const remaining = left.get(name) - 1;
      if (remaining === 0) left.delete(name); else left.set(name, remaining);
      progressed = true;
      continue;
    }
    refusals++;
    if (slot.refusedByKey) {
      byKey++;
      parkedUntil.set(name, now() + wait);
    } else {
      clientWait = Math.min(clientWait, wait);
      break;
    }
  }
  if (progressed) continue;
  const nextKey = Math.min(...[...left.keys()].map((name) => parkedUntil.get(name) ?? 0)) - now();
  const delay = Math.max(1, Math.min(clientWait, nextKey, 200));
  await Promise.race([sleep(delay), new Promise((resolve) => (wakeUp = resolve))]);
}
await store.close();
lines.close();
redis.disconnect();
console.log(JSON.stringify({ starts, errors, grants, refusals, byKey }));
`;

/**
 * The same through the client, as a user writes it: `schedule(task, { key })` with `perKey`, so the
 * scheduler's parking of a key refused by its own windows (the store's \`refusedByKey\`) is on the path.
 */
const CLIENT_WORKER = `
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { RateLimitedClient } from './src/index.js';
import { RedisStore } from './src/redis.js';

const settings = JSON.parse(process.env.RLC_SETTINGS);
const epochNow = () => performance.timeOrigin + performance.now();
const redis = new Redis(settings.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
redis.on('error', () => {});
const errors = [];
const store = new RedisStore({ redis, key: settings.key });
const client = new RateLimitedClient({
  store,
  rateLimit: { limit: settings.clientLimit, windowMs: settings.windowMs },
  perKey: { rateLimit: { limit: settings.keyLimit, windowMs: settings.windowMs } },
  concurrency: 50,
  idleKeyMs: 100,
});
client.on('error', (error) => errors.push(String(error?.message ?? error)));
if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
const names = Array.from({ length: settings.keys }, (_, i) => 'tenant-' + i);
const starts = [];
const results = await Promise.allSettled(
  names.flatMap((name) => Array.from({ length: settings.tasksPerKey }, () => client.schedule(() => void starts.push({ key: name, at: epochNow() }), { key: name }))),
);
for (const result of results) if (result.status === 'rejected') errors.push(String(result.reason?.message ?? result.reason));
await client.close();
lines.close();
redis.disconnect();
// The store's refusals; which of them a key's windows made, only the scheduler knows (it parks the key).
console.log(JSON.stringify({ starts, errors, grants: starts.length, refusals: store.stats().refusals, byKey: 0 }));
`;

describeWithRedis('RedisStore across processes, with tenant keys', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Runs 3 workers of `script` over 100 keys and checks every key's window, the client's, and idle expiry. */
  async function fleet(label: string, key: string, script: string): Promise<void> {
    const settings: Settings = { url: server.url, key, keys: 100, tasksPerKey: 2, keyLimit: 3, clientLimit: 150, windowMs: 400 };
    const workers = [1, 2, 3].map(() => spawnScriptWorker<WorkerReport>(script, settings));
    const admin = new Redis(server.url);
    try {
      await Promise.all(workers.map((worker) => worker.ready));
      for (const worker of workers) worker.go();
      const reports = await Promise.all(workers.map((worker) => worker.report));
      const endedAt = performance.now();
      for (const report of reports) expect(report.errors).toEqual([]);

      const starts = reports.flatMap((report) => report.starts);
      expect(starts).toHaveLength(3 * 100 * 2);
      const byKey = new Map<string, number[]>();
      for (const start of starts) byKey.set(start.key, [...(byKey.get(start.key) ?? []), start.at]);
      expect(byKey.size).toBe(100);
      const fullestKey = Math.max(...[...byKey.values()].map((times) => maxInAnyWindow(times, settings.windowMs)));
      const fullestClient = maxInAnyWindow(
        starts.map((start) => start.at),
        settings.windowMs,
      );
      expect(fullestKey).toBeLessThanOrEqual(settings.keyLimit);
      expect(fullestClient).toBeLessThanOrEqual(settings.clientLimit);
      // The limits were reached, not just kept: some key and the client filled their windows.
      expect(fullestKey).toBe(settings.keyLimit);
      expect(fullestClient).toBeGreaterThanOrEqual(settings.clientLimit * 0.8);

      const times = starts.map((start) => start.at);
      const span = Math.max(...times) - Math.min(...times);
      const refusedByKey = reports.reduce((sum, report) => sum + report.byKey, 0);
      const refusals = reports.reduce((sum, report) => sum + report.refusals, 0);
      console.info(
        `${label}: 3 processes, 100 keys (3 per 400 ms each), client 150 per 400 ms, 600 starts in ${span.toFixed(0)} ms: ` +
          `fullest key window ${fullestKey}, fullest client window ${fullestClient}; refusals ${refusals} (${refusedByKey} by a key)`,
      );

      // Idle: every key's state is gone a window (plus the 20 ms margin) after its last start; the client's stays.
      const scripts = new RedisScripts(admin, settings.key);
      const keyNames = [...byKey.keys()].flatMap((name) => scripts.tenantKeys(name));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, settings.windowMs + 20 + 100 - (performance.now() - endedAt))));
      expect(await admin.exists(...keyNames)).toBe(0);
      expect(await admin.exists(`rlc:{${settings.key}}:log`)).toBe(1);
    } finally {
      for (const worker of workers) worker.kill();
      admin.disconnect();
    }
  }

  it("3 processes, 100 keys of 3 per 400 ms each under the client's 150 per 400 ms: every key's window and the client's exact; idle keys expire", async () => {
    await fleet('the store by hand', `tenants-${process.pid}`, WORKER);
  }, 60_000);

  it("through the client: 3 processes scheduling for 100 keys with perKey, each key's window and the client's exact; idle keys expire", async () => {
    await fleet('through the client', `tenants-client-${process.pid}`, CLIENT_WORKER);
  }, 60_000);
});
