/**
 * A child process for the multi-process Redis tests: one RateLimitedClient on a RedisStore, started by
 * `spawnRedisWorker()` (test/support/redis-workers.ts). It reads its settings from argv[2] (JSON),
 * prints `ready`, waits for `go` on stdin so that every process starts together, then runs its tasks.
 *
 * Every line it prints is JSON:
 * - `{ "type": "ready" }`
 * - `{ "type": "start", "at": <epoch ms> }` as each task starts (so a parent knows leases are held)
 * - `{ "type": "error", "message": … }` for each `error` event of the client
 * - `{ "type": "done", "starts": [...], "ends": [...], "failures": [...], "restamps": n }` at the end
 *   (`restamps`: starts that began later than the safety margin allows, see RedisStoreStats)
 * Times are `performance.timeOrigin + performance.now()`: epoch milliseconds with a fraction, which
 * processes on one machine share.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';

export interface WorkerSettings {
  url: string;
  key: string;
  tasks: number;
  /** How long each task runs; null: it never ends (the process holds its leases until killed). */
  taskMs: number | null;
  limit?: number;
  windowMs?: number;
  concurrency?: number;
  leaseTtlMs?: number;
  failureMode?: 'local' | 'closed' | 'open';
}

const settings = JSON.parse(process.argv[2] as string) as WorkerSettings;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
const epochNow = (): number => performance.timeOrigin + performance.now();

// Fail fast while Redis is down, and reconnect quickly when it is back (see RedisStore's docs).
const redis = new Redis(settings.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
redis.on('error', () => {}); // connection errors reach the client as StoreError events
const store = new RedisStore({
  redis,
  key: settings.key,
  ...(settings.failureMode === undefined ? {} : { failureMode: settings.failureMode }),
  ...(settings.leaseTtlMs === undefined ? {} : { leaseTtlMs: settings.leaseTtlMs }),
});
const client = new RateLimitedClient({
  store,
  concurrency: settings.concurrency ?? 100,
  ...(settings.limit === undefined ? {} : { rateLimit: { limit: settings.limit, windowMs: settings.windowMs as number } }),
});
client.on('error', (error) => print({ type: 'error', message: (error as Error).message ?? String(error) }));

await new Promise<void>((resolve) => {
  if (redis.status === 'ready') resolve();
  else redis.once('ready', () => resolve());
});
print({ type: 'ready' });
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));

const starts: number[] = [];
const ends: number[] = [];
const failures: string[] = [];
await Promise.all(
  Array.from({ length: settings.tasks }, () =>
    client
      .schedule(async () => {
        const at = epochNow();
        starts.push(at);
        print({ type: 'start', at });
        if (settings.taskMs === null) await new Promise(() => {});
        await new Promise((resolve) => setTimeout(resolve, settings.taskMs as number));
        ends.push(epochNow());
      })
      .catch((error: unknown) => {
        failures.push((error as Error).message ?? String(error));
      }),
  ),
);
print({ type: 'done', starts, ends, failures, restamps: store.stats().restamps });
await client.close();
lines.close();
redis.disconnect();
