/**
 * How fast one process gets grants from a tokens window that already holds 5 000 live starts: the cost
 * of an acquire must not grow with what the window holds. The numbers are printed, not asserted (a busy
 * 2-core machine makes any wall-clock bound flaky); what is asserted is that every grant was counted.
 *
 * The 5 000 starts are written into the spend log as the scripts write them (`<entry>|tokens=<n>`,
 * scored by their start, and `costs` mapping each entry to its member), a few seconds old in a 60 s
 * window, so that seeding takes no time and nothing leaves the window during the run.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { RedisScripts } from '../../src/stores/redis-scripts.js';
import { describeWithRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { redisTime } from '../support/redis-fixtures.js';

const LIVE = 5_000;
const SEEDED_TOKENS = 10;
const WINDOW_MS = 60_000;
/** High enough that nothing is refused: the run measures grants. */
const TOKEN_LIMIT = 10_000_000;

describeWithRedis('RedisStore throughput with 5 000 live entries in a tokens window', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  /** Writes LIVE starts of SEEDED_TOKENS tokens each, spread over the last 5 s, on `key`. */
  async function seed(key: string): Promise<void> {
    const now = await redisTime(redis);
    const spend: Array<string | number> = [];
    const costs: string[] = [];
    for (let i = 0; i < LIVE; i++) {
      const entry = `seed:${i}`;
      const member = `${entry}|tokens=${SEEDED_TOKENS}`;
      spend.push(now - 5_000 + i, member);
      costs.push(entry, member);
    }
    await redis.zadd(`rlc:{${key}}:spend`, ...spend);
    await redis.hset(`rlc:{${key}}:costs`, ...costs);
  }

  const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);

  it('sequential acquires of one process, and tasks of a client: every grant counted, tasks/s printed', async () => {
    const windows = [
      { limit: 1_000_000, windowMs: WINDOW_MS },
      { limit: TOKEN_LIMIT, windowMs: WINDOW_MS, counts: 'tokens' },
    ];

    // The scripts alone: one acquire (one round trip) per grant.
    await seed('bare');
    const scripts = new RedisScripts(redis, 'bare');
    const acquires = 300;
    let last: number[] = [];
    const bareStart = performance.now();
    for (let i = 0; i < acquires; i++) {
      const reply = await scripts.acquire({
        id: `bare:${i}`,
        clientId: 'bare',
        weight: 1,
        cost: { tokens: 1 },
        settle: true,
        concurrency: Infinity,
        leaseTtlMs: 30_000,
        marginMs: 20,
        clientTtlMs: 60_000,
        windows,
      });
      expect(reply.granted).toBe(true);
      last = reply.used;
    }
    const bareMs = performance.now() - bareStart;
    expect(last).toEqual([acquires, LIVE * SEEDED_TOKENS + acquires]);

    // A client: each task settles its start and its cost through the store.
    await seed('client');
    const store = new RedisStore({ redis, key: 'client' });
    const client = new RateLimitedClient({ store, concurrency: 8, rateLimit: windows });
    const tasks = 500;
    const clientStart = performance.now();
    await Promise.all(Array.from({ length: tasks }, () => client.schedule(() => undefined, { cost: { tokens: 1 } })));
    const clientMs = performance.now() - clientStart;
    await client.close();
    const check = await new RedisScripts(redis, 'client').acquire({
      id: 'check',
      clientId: 'check',
      weight: 1,
      cost: null,
      settle: true,
      concurrency: Infinity,
      leaseTtlMs: 30_000,
      marginMs: 20,
      clientTtlMs: 60_000,
      windows,
    });
    expect(check.used).toEqual([tasks + 1, LIVE * SEEDED_TOKENS + tasks]);

    console.info(
      `${LIVE} live entries in a ${WINDOW_MS / 1000} s tokens window: ${rate(acquires, bareMs)} acquires/s (scripts, sequential), ` +
        `${rate(tasks, clientMs)} tasks/s (a client, concurrency 8)`,
    );
  }, 120_000);
});
