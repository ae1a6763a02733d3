/**
 * Several Node processes share one quota through a RedisStore on a real redis-server: the windows and
 * the concurrency hold across all of them together, and a process killed with SIGKILL does not take
 * its share of the concurrency with it.
 *
 * Start times are the tasks' own (`performance.timeOrigin + performance.now()` in each process): epoch
 * milliseconds that processes on one machine share, so starts of all processes can be counted per
 * sliding window.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { maxInAnyWindow, utilisation } from '../../examples/support/window-count.js';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { spawnRedisWorker, type WorkerResult, type WorkerSettings } from '../support/redis-workers.js';

/** Most tasks in flight at once over every process, from the tasks' own start and end times. */
function mostOverlapping(results: readonly WorkerResult[]): number {
  const events: Array<[number, number]> = [];
  for (const result of results) {
    for (const start of result.starts) events.push([start, 1]);
    for (const end of result.ends) events.push([end, -1]);
  }
  // An end and a start at the same instant: the end first (the task had finished).
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let most = 0;
  for (const [, change] of events) {
    current += change;
    most = Math.max(most, current);
  }
  return most;
}

async function runTogether(settings: readonly WorkerSettings[]): Promise<WorkerResult[]> {
  const workers = settings.map((each) => spawnRedisWorker(each));
  await Promise.all(workers.map((worker) => worker.ready));
  for (const worker of workers) worker.go();
  return Promise.all(workers.map((worker) => worker.exited));
}

describeWithRedis('RedisStore across processes', () => {
  let server: RedisServer;
  let keys = 0;
  const nextKey = () => `multi-${process.pid}-${++keys}`;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('3 processes, 30 per 500 ms, 60 tasks each: never more than 30 starts in any 500 ms, all 180 finish, utilisation >= 0.85', async () => {
    const key = nextKey();
    const settings = { url: server.url, key, tasks: 60, taskMs: 5, limit: 30, windowMs: 500, concurrency: 10 };
    const results = await runTogether([settings, settings, settings]);

    for (const result of results) {
      expect(result.errors).toEqual([]);
      expect(result.failures).toEqual([]);
      expect(result.exitCode).toBe(0);
    }
    const starts = results.flatMap((result) => result.starts);
    expect(starts).toHaveLength(180);
    expect(maxInAnyWindow([...starts], 500)).toBeLessThanOrEqual(30);
    // The ideal run takes 2 500 ms from the first start to the last (6 windows of 30). The default
    // safetyMarginMs (20 ms per window) alone costs 4 %; the rest is wake-up and round-trip time on a
    // busy 2-core machine running three Node processes and Redis. Quiet, it measures 0.93-0.95; with 8
    // busy loops beside it, 0.90-0.91. The bound, 0.85, still fails a lost wake-up: one window waited
    // for nothing makes it 2 500 / 3 000 = 0.83.
    const used = utilisation(starts, 30, 500);
    const restamps = results.reduce((sum, result) => sum + result.restamps, 0);
    console.info(`3 processes, 30 per 500 ms: utilisation ${used.toFixed(3)}, ${restamps} starts later than the margin`);
    expect(used).toBeGreaterThanOrEqual(0.85);
  }, 60_000);

  it('shares the concurrency: 3 processes with concurrency 4 never run more than 4 tasks at once together', async () => {
    const key = nextKey();
    const settings = { url: server.url, key, tasks: 20, taskMs: 30, concurrency: 4 };
    const results = await runTogether([settings, settings, settings]);

    for (const result of results) {
      expect(result.failures).toEqual([]);
      expect(result.exitCode).toBe(0);
    }
    expect(results.flatMap((result) => result.starts)).toHaveLength(60);
    expect(mostOverlapping(results)).toBeLessThanOrEqual(4);
    // The budget was used, not just kept: at some moment more than one process's worth ran at once.
    expect(mostOverlapping(results)).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('a process killed with SIGKILL while it holds leases: the others finish once its leases expire', async () => {
    const key = nextKey();
    const leaseTtlMs = 1_000;
    // The holder takes the whole concurrency budget with tasks that never end, then dies. The others
    // are up and connected before it dies, so their first start measures the leases, not their boot.
    const holder = spawnRedisWorker({ url: server.url, key, tasks: 2, taskMs: null, concurrency: 2, leaseTtlMs });
    const survivors = [1, 2].map(() => spawnRedisWorker({ url: server.url, key, tasks: 5, taskMs: 10, concurrency: 2, leaseTtlMs }));
    await Promise.all([holder.ready, ...survivors.map((worker) => worker.ready)]);
    holder.go();
    await holder.started(2);
    holder.child.kill('SIGKILL');
    const killedAt = Date.now();
    for (const worker of survivors) worker.go();
    const killed = await holder.exited;
    expect(killed.signal).toBe('SIGKILL');
    const others = await Promise.all(survivors.map((worker) => worker.exited));
    for (const result of others) {
      expect(result.failures).toEqual([]);
      expect(result.exitCode).toBe(0);
      expect(result.starts).toHaveLength(5);
    }
    const firstStart = Math.min(...others.flatMap((result) => result.starts));
    // Nothing started before the dead holder's leases ran out (the budget really was held) …
    expect(firstStart - killedAt).toBeGreaterThanOrEqual(leaseTtlMs * 0.5);
    // … and the survivors did not wait for anything else (a generous bound for a busy machine).
    expect(firstStart - killedAt).toBeLessThan(leaseTtlMs + 5_000);
    expect(mostOverlapping(others)).toBeLessThanOrEqual(2);
  }, 60_000);
});
