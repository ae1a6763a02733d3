/**
 * A real Redis Cluster of 3 masters (started here from Debian's redis-server and redis-cli, on
 * loopback ports): 3 Node processes, each with its own cluster client (ioredis `Cluster`, then
 * node-redis `createCluster`), share one window exactly through a RedisStore, and every promise
 * settles. All of the store's keys share the hash tag `{key}`, so they sit in one slot, on one master,
 * and its Lua scripts run there.
 *
 * Start times are the tasks' own (epoch ms that processes on one machine share), counted per sliding
 * window over all processes together.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { maxInAnyWindow } from '../../examples/support/window-count.js';
import { describeWithTopology } from '../support/describe-with-topology.js';
import { command, type RedisClusterTopology, startCluster } from '../support/redis-topology.js';
import { spawnTopologyWorker, type TopologyConnection, type TopologyReport } from '../support/topology-workers.js';

const LIMIT = 30;
const WINDOW_MS = 500;
const TASKS = 60;

describeWithTopology('RedisStore on a Redis Cluster of 3 masters, across 3 processes', () => {
  let cluster: RedisClusterTopology;

  beforeAll(async () => {
    cluster = await startCluster(3);
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  /** 3 workers of `connection` on `key` (60 tasks each, 30 per 500 ms together); their reports once all ended. */
  async function fleet(connection: TopologyConnection, key: string): Promise<TopologyReport[]> {
    const settings = {
      connection,
      key,
      tasks: TASKS,
      limit: LIMIT,
      windowMs: WINDOW_MS,
      taskMs: 5,
      concurrency: 10,
      settleDeadlineMs: 20_000,
    };
    const workers = [1, 2, 3].map(() => spawnTopologyWorker(settings));
    try {
      await Promise.all(workers.map((worker) => worker.ready));
      for (const worker of workers) worker.go();
      return await Promise.all(workers.map((worker) => worker.report));
    } finally {
      for (const worker of workers) worker.kill();
    }
  }

  /** The checks of one run: every promise fulfilled, no error, no window over the limit, and the limit reached. */
  async function check(label: string, key: string, reports: TopologyReport[]): Promise<void> {
    for (const report of reports) {
      expect(report.unsettled).toBe(0);
      expect(report.rejected).toEqual([]);
      expect(report.fulfilled).toBe(TASKS);
      expect(report.errors).toEqual([]);
      // Redis answered every acquire: nothing was granted by the failure mode.
      expect(report.stats.fallbackGrants).toBe(0);
    }
    const starts = reports.flatMap((report) => report.starts.map((start) => start.at));
    expect(starts).toHaveLength(3 * TASKS);
    const fullest = maxInAnyWindow(starts, WINDOW_MS);
    expect(fullest).toBeLessThanOrEqual(LIMIT);
    // The window was binding, not just kept: some 500 ms held all 30 (180 starts take 6 windows).
    expect(fullest).toBe(LIMIT);

    // One slot: every key of the store is on the master that serves `{key}`, none on the others.
    const owner = await cluster.nodeOf(`{${key}}`);
    for (const node of cluster.nodes) {
      const keys = (await command(node.port, 'KEYS', `rlc:{${key}}:*`)) as string[];
      if (node === owner) expect(keys.length).toBeGreaterThan(0);
      else expect(keys).toEqual([]);
    }
    const span = Math.max(...starts) - Math.min(...starts);
    const roundTrips = reports.reduce((sum, report) => sum + report.stats.roundTrips, 0);
    console.info(
      `${label}: 3 processes, ${LIMIT} per ${WINDOW_MS} ms, ${starts.length} starts in ${span.toFixed(0)} ms, ` +
        `fullest window ${fullest}, ${roundTrips} round trips; keys on the master at port ${owner.port}`,
    );
  }

  it('ioredis Cluster: 3 processes, 30 per 500 ms, 60 tasks each: never more than 30 starts in any 500 ms, all 180 fulfilled', async () => {
    const key = `cluster-ioredis-${process.pid}`;
    const reports = await fleet({ kind: 'ioredis-cluster', nodes: cluster.addresses }, key);
    await check('ioredis Cluster', key, reports);
  }, 60_000);

  it('node-redis createCluster: 3 processes, 30 per 500 ms, 60 tasks each: never more than 30 starts in any 500 ms, all 180 fulfilled', async () => {
    const key = `cluster-node-redis-${process.pid}`;
    const reports = await fleet({ kind: 'node-redis-cluster', nodes: cluster.addresses }, key);
    await check('node-redis createCluster', key, reports);
  }, 60_000);
});
