/**
 * Several Node processes share one token budget through a RedisStore on a real redis-server: each task
 * estimates its tokens, and settles its real cost (less or more) with `setCost` while it runs. Every
 * grant was decided against what all processes had counted in the window at that moment.
 *
 * The workers are this file's own `WORKER` script, run by Node with tsx from the repository root (the
 * workers of test/support run one client without costs). Times are epoch ms that processes on one
 * machine share (`performance.timeOrigin + performance.now()`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { spawnScriptWorker } from '../support/script-worker.js';

/** One task as its worker saw it. */
interface TaskRecord {
  start: number;
  estimate: number;
  real: number;
  /** When `setCost` was called. */
  amendedAt: number;
}

interface WorkerReport {
  tasks: TaskRecord[];
  errors: string[];
  failures: string[];
  acquires: number;
  grants: number;
  syncRefusals: number;
}

interface Settings {
  url: string;
  key: string;
  tasks: number;
  limit: number;
  windowMs: number;
  seed: number;
}

/** A worker: settings in RLC_SETTINGS; prints `ready`, waits for a line on stdin, runs, prints its report. */
const WORKER = `
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { RateLimitedClient } from './src/index.js';
import { RedisStore } from './src/redis.js';

const settings = JSON.parse(process.env.RLC_SETTINGS);
let seed = settings.seed;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const epochNow = () => performance.timeOrigin + performance.now();
const redis = new Redis(settings.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
redis.on('error', () => {});
const store = new RedisStore({ redis, key: settings.key });
const client = new RateLimitedClient({
  store,
  concurrency: 8,
  rateLimit: [
    { limit: 1000, windowMs: settings.windowMs },
    { limit: settings.limit, windowMs: settings.windowMs, counts: 'tokens' },
  ],
});
const errors = [];
client.on('error', (error) => errors.push(String(error?.message ?? error)));
if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
const tasks = [];
const failures = [];
await Promise.all(
  Array.from({ length: settings.tasks }, () => {
    const estimate = 200 + Math.floor(random() * 600);
    // Half cost less than estimated (some nothing), half more (up to half as much again).
    const real = random() < 0.5 ? Math.floor(random() * estimate) : estimate + Math.floor(random() * estimate * 0.5);
    return client
      .schedule(
        async (context) => {
          const start = epochNow();
          await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(random() * 30)));
          const amendedAt = epochNow();
          context.setCost({ tokens: real });
          tasks.push({ start, estimate, real, amendedAt });
        },
        { cost: { tokens: estimate } },
      )
      .catch((error) => failures.push(String(error?.message ?? error)));
  }),
);
const stats = store.stats();
await client.close();
lines.close();
redis.disconnect();
console.log(JSON.stringify({ tasks, errors, failures, acquires: stats.acquires, grants: stats.grants, syncRefusals: stats.syncRefusals }));
`;

describeWithRedis('RedisStore across processes, with costs in tokens', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('3 processes share 6 000 tokens per 2 s exactly, with random estimates and real costs settled below and above them', async () => {
    const limit = 6_000;
    const windowMs = 2_000;
    const workers = [1, 2, 3].map((seed) =>
      spawnScriptWorker<WorkerReport>(WORKER, {
        url: server.url,
        key: 'tokens-shared',
        tasks: 14,
        limit,
        windowMs,
        seed,
      } satisfies Settings),
    );
    try {
      await Promise.all(workers.map((worker) => worker.ready));
      for (const worker of workers) worker.go();
      const reports = await Promise.all(workers.map((worker) => worker.report));
      for (const report of reports) {
        expect(report.errors).toEqual([]);
        expect(report.failures).toEqual([]);
      }
      const tasks = reports.flatMap((report) => report.tasks);
      expect(tasks).toHaveLength(42);

      // At each start, what the window held then, as the store must have counted it at the least: every
      // earlier start in the window at its real cost if lower (a refund may have come before this grant),
      // and what an amend added, once it was surely in Redis (50 ms after setCost: it goes with the next
      // tick's writes). No more than the limit.
      const slack = 50;
      let fullest = 0;
      for (const grant of tasks) {
        let counted = 0;
        for (const other of tasks) {
          if (other.start > grant.start - windowMs && other.start <= grant.start) counted += Math.min(other.estimate, other.real);
          const extra = other.real - other.estimate;
          if (extra > 0 && other.amendedAt + slack < grant.start && other.amendedAt > grant.start - windowMs + slack) counted += extra;
        }
        fullest = Math.max(fullest, counted);
      }
      expect(fullest).toBeLessThanOrEqual(limit);
      // The budget was used, not just kept: some start found most of it taken.
      expect(fullest).toBeGreaterThan(limit * 0.5);

      // Costs cost no round trip: each grant took one acquire sent to Redis (refusals aside).
      const grants = reports.reduce((sum, report) => sum + report.grants, 0);
      expect(grants).toBe(42);
      console.info(
        `3 processes, 6 000 tokens per 2 s: fullest window at a start ${fullest}; acquires sent per grant ` +
          (reports.reduce((sum, report) => sum + report.acquires - report.syncRefusals, 0) / grants).toFixed(3),
      );
    } finally {
      for (const worker of workers) worker.kill();
    }
  }, 60_000);
});
