/**
 * Three processes, one RedisStore key, one nginx `limit_req` (a leaky bucket): the fleet shares the
 * bucket exactly, so nginx refuses nothing. Counted in nginx's own access log.
 *
 * Each process is a Node child (through tsx, as the tests run) with one RateLimitedClient on a
 * RedisStore, sending its GETs at concurrency 4 with `retry: { retries: 10 }` (a refused request goes
 * back through the limits; one still failing after them is *lost*). They start together on `go`.
 *
 * Without nginx or redis-server the file is skipped, naming the reason; in CI (`CI=true`) a missing one
 * fails instead, so a green run means it ran.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { type NginxLimit, nginxAvailable, startNginx } from '../support/nginx.js';
import { redisServerAvailable, type RedisServer, startRedis } from '../support/redis-server.js';

const PROCESSES = 3;
const REQUESTS_EACH = 20;

/** The child's code: argv[1] is its settings (JSON). It prints one JSON line when done. */
const WORKER = `
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
const settings = JSON.parse(process.argv[1]);
const { RateLimitedClient } = await import(settings.index);
const { RedisStore } = await import(settings.redisModule);
const redis = new Redis(settings.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 });
redis.on('error', () => {});
const store = new RedisStore({ redis, key: settings.key });
const client = new RateLimitedClient({ store, baseUrl: settings.baseUrl, concurrency: 4, rateLimit: settings.rateLimit, retry: { retries: 10 } });
const errors = [];
client.on('error', (error) => errors.push(String(error)));
if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
process.stdout.write(JSON.stringify({ type: 'ready' }) + '\\n');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
const results = await Promise.allSettled(
  Array.from({ length: settings.requests }, async (_, i) => {
    const response = await client.get('/?p=' + settings.name + '&i=' + i);
    await response.arrayBuffer();
  }),
);
const failures = results.filter((result) => result.status === 'rejected').map((result) => String(result.reason));
process.stdout.write(JSON.stringify({ type: 'done', failures, errors, stats: store.stats() }) + '\\n');
await client.close();
lines.close();
redis.disconnect();
`;

interface Done {
  failures: string[];
  errors: string[];
  stats: { grants: number; roundTrips: number };
}

interface Worker {
  ready: Promise<void>;
  done: Promise<Done>;
  go(): void;
}

const running = new Set<ChildProcess>();

function spawnWorker(settings: Record<string, unknown>): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WORKER, JSON.stringify(settings)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  let buffered = '';
  let markReady!: () => void;
  let finish!: (done: Done) => void;
  let fail!: (error: Error) => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = new Promise<Done>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffered.slice(0, newline)) as { type: string } & Done;
      buffered = buffered.slice(newline + 1);
      if (message.type === 'ready') markReady();
      else if (message.type === 'done') finish(message);
    }
  });
  child.on('exit', (code) => {
    running.delete(child);
    const error = new Error(`worker exited (code ${code}) before it was done: ${stderr}`);
    fail(error);
    markReady(); // the test then fails on `done`
  });
  return { ready, done, go: () => child.stdin.write('go\n') };
}

function describeWithServers(name: string, fn: () => void): void {
  const nginx = nginxAvailable();
  const redis = redisServerAvailable();
  const reason = !nginx.ok ? nginx.reason : !redis.ok ? redis.reason : undefined;
  if (reason === undefined) describe(name, fn);
  else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs nginx and redis-server', () => {
        throw new Error(`nginx and redis-server are required in CI; .ci/run installs them. ${reason}`);
      });
    });
  } else describe.skip(`${name} (skipped: ${reason})`, fn);
}

const srcUrl = (path: string) => new URL(`../../src/${path}`, import.meta.url).href;

describeWithServers('3 processes on one RedisStore key against one nginx limit_req', () => {
  let redis: RedisServer | undefined;

  afterAll(async () => {
    await redis?.stop();
  });

  async function run(limit: NginxLimit, rateLimit: { limit: number; windowMs: number; burst: number }) {
    redis ??= await startRedis();
    const server = redis;
    onTestFinished(async () => {
      for (const child of running) child.kill('SIGKILL');
    });
    const nginx = await startNginx(limit);
    onTestFinished(() => nginx.stop());
    const key = `nginx-${randomUUID()}`;
    const workers = Array.from({ length: PROCESSES }, (_, p) =>
      spawnWorker({
        url: server.url,
        key,
        baseUrl: nginx.url,
        rateLimit,
        requests: REQUESTS_EACH,
        name: p,
        index: srcUrl('index.ts'),
        redisModule: srcUrl('redis.ts'),
      }),
    );
    await Promise.all(workers.map((worker) => worker.ready));
    for (const worker of workers) worker.go();
    const results = await Promise.all(workers.map((worker) => worker.done));
    const log = await nginx.arrivals();
    const refusals = log.filter((line) => line.status === 429).length;
    const accepted = log.filter((line) => line.status === 200);
    const lost = results.reduce((sum, result) => sum + result.failures.length, 0);
    const grants = results.reduce((sum, result) => sum + result.stats.grants, 0);
    const trips = results.reduce((sum, result) => sum + result.stats.roundTrips, 0);
    const first = Math.min(...log.map((line) => line.atMs));
    const last = Math.max(...accepted.map((line) => line.atMs));
    const ideal = ((accepted.length - rateLimit.burst) * 1_000) / limit.rate;
    console.log(
      `nginx rate=${limit.rate}r/s burst=${limit.burst ?? 0}: ${refusals} refusals, ${lost} lost, ${log.length} arrivals, ` +
        `utilisation ${(ideal / (last - first)).toFixed(3)}, ${(trips / grants).toFixed(2)} commands a grant`,
    );
    return { results, refusals, accepted: accepted.length, lost };
  }

  it('burst 1 against rate=20r/s: 0 refusals, none lost', async () => {
    const { results, refusals, accepted, lost } = await run({ rate: 20 }, { limit: 20, windowMs: 1_000, burst: 1 });
    expect(results.flatMap((result) => result.errors)).toEqual([]);
    expect(lost).toBe(0);
    expect(refusals).toBe(0);
    expect(accepted).toBe(PROCESSES * REQUESTS_EACH);
  }, 30_000);

  it('burst 11 against rate=20r/s burst=10 nodelay: 0 refusals, none lost', async () => {
    const { results, refusals, accepted, lost } = await run(
      { rate: 20, burst: 10, nodelay: true },
      { limit: 20, windowMs: 1_000, burst: 11 },
    );
    expect(results.flatMap((result) => result.errors)).toEqual([]);
    expect(lost).toBe(0);
    expect(refusals).toBe(0);
    expect(accepted).toBe(PROCESSES * REQUESTS_EACH);
  }, 30_000);
});
