/**
 * The Redis store's figures: acquires per second and Redis round trips per granted start, against a
 * redis-server this benchmark starts on a free local port (skipped, with the reason, when there is none).
 */
import { Redis } from 'ioredis';
import { RateLimitedClient, type RateWindow } from '../src/index.js';
import { RedisStore } from '../src/redis.js';
import { redisServerAvailable, startRedis } from '../test/support/redis-process.js';
import { count, heading, table, verdict, type Results } from './lib/report.js';

interface Case {
  label: string;
  tasks: number;
  concurrency: number;
  rateLimit?: RateWindow;
}

const CASES: Case[] = [
  { label: 'no limit binds, concurrency 1000', tasks: 5_000, concurrency: 1_000, rateLimit: { limit: 1_000_000, windowMs: 60_000 } },
  { label: 'no limit binds, concurrency 8', tasks: 5_000, concurrency: 8, rateLimit: { limit: 1_000_000, windowMs: 60_000 } },
  { label: 'window binds: 100 per 100 ms', tasks: 1_000, concurrency: 1_000, rateLimit: { limit: 100, windowMs: 100 } },
];

export async function redisBench(results: Results): Promise<void> {
  heading(
    'Redis store: one client on a local redis-server',
    'Target: 1 round trip per granted acquire in the common case (no limit binds).',
    'A task also releases its shared-concurrency lease: one more command, sent after it ends, off the start path;',
    'a start later than safetyMarginMs after its acquire was sent is moved in Redis, one more command each.',
  );
  const available = redisServerAvailable();
  if (!available.ok) {
    console.log(`skipped: ${available.reason}`);
    results.record('redis', { skipped: available.reason });
    return;
  }
  const server = await startRedis();
  const rows: Array<Array<string | number>> = [];
  const figures: Array<Record<string, unknown>> = [];
  try {
    for (const [index, each] of CASES.entries()) {
      const redis = new Redis(server.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
      const store = new RedisStore({ redis, key: `bench-${index}` });
      const client = new RateLimitedClient({
        store,
        concurrency: each.concurrency,
        ...(each.rateLimit ? { rateLimit: each.rateLimit } : {}),
      });
      const noop = async () => {};
      const begin = performance.now();
      await Promise.all(Array.from({ length: each.tasks }, () => client.schedule(noop)));
      const seconds = (performance.now() - begin) / 1000;
      await client.close();
      redis.disconnect();
      const stats = store.stats();
      // Acquires answered from a remembered refusal cost nothing; the rest each sent one script.
      const acquireTrips = (stats.acquires - stats.syncRefusals) / stats.grants;
      const allTrips = stats.roundTrips / stats.grants;
      const common = index < 2;
      // Grants made locally while Redis was unreachable would cost no round trip: they must not pass.
      const judged = common ? verdict(acquireTrips <= 1.001 && stats.fallbackGrants === 0 && !stats.down) : 'info';
      rows.push([each.label, count(each.tasks / seconds), acquireTrips.toFixed(3), allTrips.toFixed(3), stats.restamps, judged]);
      figures.push({
        case: each.label,
        tasksPerSecond: each.tasks / seconds,
        acquireRoundTripsPerGrant: acquireTrips,
        roundTripsPerTask: allTrips,
        restamps: stats.restamps,
        fallbackGrants: stats.fallbackGrants,
        down: stats.down,
        verdict: judged,
      });
    }
  } finally {
    await server.stop();
  }
  console.log(
    table(['case', 'tasks/s', 'acquire round trips per grant', 'all round trips per task', 'starts moved (late)', 'verdict'], rows),
  );
  results.record('redis', { cases: figures });
}
