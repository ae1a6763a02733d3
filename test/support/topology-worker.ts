/**
 * A child process for the Redis topology tests: one RateLimitedClient on a RedisStore whose client
 * reaches a Cluster or a Sentinel-watched primary, started by `spawnTopologyWorker()`
 * (test/support/topology-workers.ts): settings in RLC_SETTINGS; prints `ready` once its client is
 * connected, waits for a line on stdin, schedules its tasks, prints `start` as each begins (so the
 * test can kill a server mid-run), and prints its report (JSON) last.
 *
 * Start times are `performance.timeOrigin + performance.now()`: epoch milliseconds with a fraction,
 * which processes on one machine share. The worker exits when its stdin closes, so a test process
 * that dies leaves none behind (its servers are gone then, and the client would reconnect forever).
 */
import { createInterface } from 'node:readline';
import { Cluster, Redis } from 'ioredis';
import { createCluster, type RedisClusterType } from 'redis';
import { RateLimitedClient } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import type { TopologyConnection, TopologyReport, TopologyStart, TopologyWorkerSettings } from './topology-workers.js';

/** A client as the store is given it, with how this worker waits for it and closes it. */
interface Connected {
  redis: Redis | Cluster | RedisClusterType;
  ready(): Promise<void>;
  close(): void;
}

/** The client the store is given: fails fast (no offline queue, one retry) and reconnects every 100 ms. */
function connect(connection: TopologyConnection): Connected {
  const fast = { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 100 };
  if (connection.kind === 'node-redis-cluster') {
    const cluster = createCluster({
      rootNodes: connection.nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
      // `disableOfflineQueue` is node-redis's `enableOfflineQueue: false`.
      defaults: { disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } },
    });
    cluster.on('error', () => {}); // connection errors reach the client as StoreError events
    const opened = cluster.connect().then(() => {});
    return { redis: cluster, ready: () => opened, close: () => cluster.destroy() };
  }
  const redis =
    connection.kind === 'ioredis-cluster'
      ? new Cluster(connection.nodes, { enableOfflineQueue: false, clusterRetryStrategy: () => 100, redisOptions: fast })
      : new Redis({ sentinels: connection.sentinels, name: connection.name, sentinelRetryStrategy: () => 100, ...fast });
  redis.on('error', () => {}); // connection errors reach the client as StoreError events
  return {
    redis,
    ready: () => (redis.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => redis.once('ready', () => resolve()))),
    close: () => redis.disconnect(),
  };
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.RLC_SETTINGS ?? '{}') as TopologyWorkerSettings;
  const epochNow = (): number => performance.timeOrigin + performance.now();
  const connected = connect(settings.connection);
  // node-redis: the store wants a connected client; ioredis connects by itself.
  if (settings.connection.kind === 'node-redis-cluster') await connected.ready();
  const { redis } = connected;
  const store = new RedisStore({
    redis,
    key: settings.key,
    ...(settings.failureMode === undefined ? {} : { failureMode: settings.failureMode }),
  });
  const client = new RateLimitedClient({
    store,
    concurrency: settings.concurrency,
    rateLimit: { limit: settings.limit, windowMs: settings.windowMs },
  });
  const errors: TopologyReport['errors'] = [];
  client.on('error', (error) => {
    const { name, message, code } = error as Error & { code?: unknown };
    errors.push({ name, code: typeof code === 'string' ? code : undefined, message });
  });
  await connected.ready();

  const lines = createInterface({ input: process.stdin });
  // The test process is gone: so are its servers, and nothing would end this one.
  lines.once('close', () => process.exit(3));
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));

  const starts: TopologyStart[] = [];
  let fallbackGrants = 0;
  let fulfilled = 0;
  const rejected: string[] = [];
  const outcomes = Array.from({ length: settings.tasks }, () =>
    client
      .schedule(async () => {
        const { down, fallbackGrants: now } = store.stats();
        starts.push({ at: epochNow(), down, fallback: now > fallbackGrants, errorsBefore: errors.length });
        fallbackGrants = now;
        process.stdout.write('start\n');
        await new Promise((resolve) => setTimeout(resolve, settings.taskMs));
      })
      .then(
        () => {
          fulfilled++;
        },
        (error: unknown) => {
          rejected.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        },
      ),
  );
  // A promise that never settles must show in the report, not as a test that times out.
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([Promise.all(outcomes), new Promise((resolve) => (timer = setTimeout(resolve, settings.settleDeadlineMs)))]);
  clearTimeout(timer);
  const report: TopologyReport = {
    starts,
    fulfilled,
    rejected,
    unsettled: settings.tasks - fulfilled - rejected.length,
    errors,
    stats: store.stats(),
  };
  lines.removeAllListeners('close');
  lines.close();
  await client.close();
  connected.close();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();
