/**
 * Where one process's time goes at full speed against Redis (docs/performance.md, "One process at full
 * speed"): not part of `npm run bench`, run by hand, optionally under the profiler:
 *
 *   node --import tsx bench/support/redis-profile.ts
 *   ONLY=client N=30000 node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/support/redis-profile.ts
 *
 * ONLY=raw: sequential PINGs, then the ACQUIRE script through RedisScripts (alone, with its RELEASE, and 8
 * or 64 in flight: what Redis can take when round trips are not the bound). ONLY=client: a client with
 * a RedisStore, N no-op tasks queued at once, with the time an acquire is out. Each line gives the
 * process's CPU and Redis's (`INFO commandstats`, `INFO cpu`) per grant or call.
 */
import { Redis } from 'ioredis';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { RedisScripts } from '../../src/stores/redis-scripts.js';
import { startRedis } from '../../test/support/redis-process.js';

const only = process.env.ONLY ?? 'all';
const N = Number(process.env.N ?? 20000);
const server = await startRedis();
const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
const admin = new Redis(server.url);
await redis.ping();
await admin.ping();
const LOOSE = [{ limit: 1_000_000_000, windowMs: 60_000 }];

/** Redis's command times and its CPU (user + system, seconds) so far. */
async function side() {
  const info = await admin.info('commandstats');
  const stats: Record<string, { calls: number; usec: number }> = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+),usec=(\d+)/gm))
    stats[m[1] ?? ''] = { calls: Number(m[2]), usec: Number(m[3]) };
  const cpu = await admin.info('cpu');
  const s = (n: string) => Number(new RegExp(`^${n}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
  return { stats, cpu: s('used_cpu_user') + s('used_cpu_sys') };
}

/** Runs `fn` (`count` grants or calls) and prints its rate, this process's CPU and Redis's, per grant. */
async function measure(name: string, count: number, fn: () => Promise<void>) {
  await admin.config('RESETSTAT');
  const before = await side();
  const cpu0 = process.cpuUsage();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  const after = await side();
  const scripts = Object.entries(after.stats).filter(([k]) => k.startsWith('eval'));
  const calls = scripts.reduce((a, [, v]) => a + v.calls, 0);
  const usec = scripts.reduce((a, [, v]) => a + v.usec, 0);
  const all = Object.values(after.stats).reduce((a, v) => a + v.usec, 0);
  console.log(
    `${name}: ${Math.round((count / ms) * 1000)}/s, ${((ms * 1000) / count).toFixed(1)} µs wall each, node CPU ${((cpu.user + cpu.system) / count).toFixed(1)} µs each (${(((cpu.user + cpu.system) / 1000 / ms) * 100).toFixed(0)} % of a core), ` +
      `redis: ${calls} script calls ${(usec / Math.max(calls, 1)).toFixed(1)} µs/call, all commands ${(all / count).toFixed(1)} µs each, redis CPU ${(((after.cpu - before.cpu) * 1e6) / count).toFixed(1)} µs each (${((((after.cpu - before.cpu) * 1e3) / ms) * 100).toFixed(0)} %), loop p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, load ${os.loadavg()[0]?.toFixed(2)}`,
  );
}

const request = (scripts: RedisScripts, i: number, concurrency: number) =>
  scripts.acquire({
    id: `x:${i}`,
    clientId: 'x',
    weight: 1,
    cost: null,
    settle: true,
    concurrency,
    leaseTtlMs: 10_000,
    marginMs: 20,
    clientTtlMs: 60_000,
    windows: LOOSE,
  });

if (only === 'all' || only === 'raw') {
  await measure('sequential PING', 5000, async () => {
    for (let i = 0; i < 5000; i++) await redis.ping();
  });
  const s1 = new RedisScripts(redis, 'seq');
  await request(s1, -1, Infinity);
  await measure('sequential ACQUIRE script, no concurrency (no lease)', 5000, async () => {
    for (let i = 0; i < 5000; i++) await request(s1, i, Infinity);
  });
  const s2 = new RedisScripts(redis, 'seqc');
  await request(s2, -1, 1e9);
  await measure('sequential ACQUIRE then RELEASE (lease), as the client sends', 5000, async () => {
    for (let i = 0; i < 5000; i++) {
      await request(s2, i, 1e9);
      void s2.release([`x:${i}`]);
    }
  });
  for (const inFlight of [8, 64]) {
    const s3 = new RedisScripts(redis, `pipe${inFlight}`);
    await request(s3, -1, Infinity);
    await measure(`ACQUIRE script, ${inFlight} in flight (pipelined: Redis's side is the bound)`, N, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < N) await request(s3, next++, Infinity);
        }),
      );
    });
  }
  const s4 = new RedisScripts(redis, 'pipec');
  await request(s4, -1, 1e9);
  await measure('ACQUIRE + RELEASE, 64 in flight', N, async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < N) {
          const i = next++;
          await request(s4, i, 1e9);
          await s4.release([`x:${i}`]);
        }
      }),
    );
  });
}
if (only === 'all' || only === 'client') {
  const store = new RedisStore({ redis, key: 'client' });
  let inFlightMs = 0;
  let sends = 0;
  const acquire = store.acquire.bind(store);
  store.acquire = (slot, now) => {
    const answer = acquire(slot, now);
    if (typeof answer === 'number') return answer;
    sends++;
    const t = performance.now();
    return answer.then((wait) => {
      inFlightMs += performance.now() - t;
      return wait;
    });
  };
  const client = new RateLimitedClient({ store, concurrency: 1000, rateLimit: LOOSE });
  await client.schedule(async () => {});
  let total = 0;
  await measure('client.schedule, concurrency 1000, no-op tasks queued at once', N, async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, () => client.schedule(async () => {})));
    total = performance.now() - t0;
  });
  console.log(
    `  acquire in flight ${((inFlightMs / total) * 100).toFixed(0)} % of the time, ${((inFlightMs * 1000) / sends).toFixed(1)} µs per acquire (send → answer), ${(((total - inFlightMs) * 1000) / sends).toFixed(1)} µs between answer and next send; roundTrips/grant ${(store.stats().roundTrips / store.stats().grants).toFixed(3)}`,
  );
  await client.close();
}
redis.disconnect();
admin.disconnect();
await server.stop();
