/**
 * A primary, a replica and 3 sentinels (started here from Debian's redis-server, on loopback ports):
 * 3 Node processes share one window through a RedisStore whose ioredis client follows the sentinels;
 * the primary is killed with SIGKILL mid-run (while starts are being granted), the sentinels promote
 * the replica, and the clients follow.
 *
 * What the store promises across the failover (docs/fleet.md, "Redis topologies: Cluster and
 * Sentinel"), for a window of `limit` shared by `n` processes:
 * - no promise is lost: with `failureMode: 'local'` (the default) or `'closed'` every task is fulfilled
 *   (the failure mode answers or holds work while there is no primary: nothing is rejected), and each
 *   process reports the outage as a StoreError on its `error` event;
 * - `'local'`: a window that ends before the primary dies, and one that begins after the last start
 *   granted without Redis, holds at most `limit` starts (Redis decided every start in it); one that
 *   overlaps the outage holds at most `limit + n * floor(limit / n)` (<= 2 * limit): what Redis counted
 *   (the replicated log, and each process's outage starts, recorded when it is back) plus each
 *   process's share, which it grants itself while it has no primary, counting its own recent starts;
 * - `'closed'`: every window holds at most `limit`;
 * - in both, a start whose write the replica had not received when the primary died may count once
 *   more (replication is asynchronous). On loopback the replica is sent each write in the same turn of
 *   the primary's event loop as the grant's answer, so losing one takes a kill between those two
 *   socket writes: none is allowed for here.
 *
 * Start times are the tasks' own (epoch ms that processes on one machine share).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { maxInAnyWindow } from '../../examples/support/window-count.js';
import { describeWithTopology } from '../support/describe-with-topology.js';
import { command, type SentinelTopology, startSentinels } from '../support/redis-topology.js';
import { spawnTopologyWorker, type TopologyReport, type TopologyStart } from '../support/topology-workers.js';

const PROCESSES = 3;
const LIMIT = 30;
const WINDOW_MS = 1_000;
/** 50 tasks each, 150 in all at 30 a second: about 5 s of work, long enough to run through a failover of ~1.5 s. */
const TASKS = 50;
/** The primary dies at the 45th start of all processes: in the second window's burst, with grants on their way. */
const KILL_AT_START = 45;
/**
 * A start counts as granted without Redis when the store said so as the task began (`down`, or its
 * fallback-grant count grew since the previous start). The two may lag a grant by the moment between
 * it and its task's first line, or by one start beside it: the exact windows after the outage begin
 * this much after the last such start.
 */
const FALLBACK_SLACK_MS = 50;

const epochNow = (): number => performance.timeOrigin + performance.now();

interface Failover {
  reports: TopologyReport[];
  all: TopologyStart[];
  /** Starts granted without Redis. */
  fallback: TopologyStart[];
  /** The fullest window before the kill, after the outage (after the kill and the last fallback grant), and overall. */
  before: number;
  after: number;
  anyWindow: number;
  /** Per process, ms from the kill to its first start granted by the new primary (Infinity: none). */
  back: number[];
}

describeWithTopology('RedisStore behind Redis Sentinel: the primary killed mid-run, across 3 processes', () => {
  let group: SentinelTopology | undefined;

  beforeEach(async () => {
    group = await startSentinels({ downAfterMs: 400, failoverTimeoutMs: 1_000 });
  }, 30_000);
  afterEach(async () => {
    await group?.stop();
    group = undefined;
  });

  /** 3 workers on one key; the primary killed at the KILL_AT_START-th start; their reports and the windows, printed. */
  async function failover(failureMode: 'local' | 'closed'): Promise<Failover> {
    const topology = group as SentinelTopology;
    const key = `sentinel-${failureMode}-${process.pid}`;
    const settings = {
      connection: { kind: 'ioredis-sentinel' as const, sentinels: topology.sentinelAddresses, name: topology.name },
      key,
      tasks: TASKS,
      limit: LIMIT,
      windowMs: WINDOW_MS,
      taskMs: 5,
      concurrency: 10,
      failureMode,
      settleDeadlineMs: 30_000,
    };
    const workers = Array.from({ length: PROCESSES }, () => spawnTopologyWorker(settings));
    let reports: TopologyReport[];
    let killedAt = 0;
    let failoverMs: number;
    try {
      await Promise.all(workers.map((worker) => worker.ready));
      const killed = new Promise<void>((resolve) => {
        const check = () => {
          if (killedAt !== 0 || workers.reduce((sum, worker) => sum + worker.started, 0) < KILL_AT_START) return;
          killedAt = epochNow();
          resolve(topology.primary.kill());
        };
        for (const worker of workers) worker.onStart(check);
      });
      for (const worker of workers) worker.go();
      // A worker that fails, or work that ends before the kill, shows here rather than as a timeout.
      const ended = Promise.all(workers.map((worker) => worker.report)).then(() => {
        throw new Error(`the workers ended before the primary was killed (at start ${KILL_AT_START})`);
      });
      await Promise.race([killed, ended]);
      ended.catch(() => {});
      failoverMs = await topology.waitForMaster(topology.replica.port);
      reports = await Promise.all(workers.map((worker) => worker.report));
    } finally {
      for (const worker of workers) worker.kill();
    }
    // The new primary holds the store's state.
    expect(((await command(topology.replica.port, 'KEYS', `rlc:{${key}}:*`)) as string[]).length).toBeGreaterThan(0);

    const all = reports.flatMap((report) => report.starts);
    const fallback = all.filter((start) => start.down || start.fallback);
    const lastFallback = Math.max(...fallback.map((start) => start.at));
    const times = (starts: TopologyStart[]) => starts.map((start) => start.at);
    const before = maxInAnyWindow(times(all.filter((start) => start.at < killedAt)), WINDOW_MS);
    const after = maxInAnyWindow(times(all.filter((start) => start.at > Math.max(killedAt, lastFallback + FALLBACK_SLACK_MS))), WINDOW_MS);
    const anyWindow = maxInAnyWindow(times(all), WINDOW_MS);
    // The first start each process was granted by the new primary: by Redis, after it reported the outage.
    const back = reports.map(
      (report) =>
        Math.min(
          ...report.starts
            .filter((start) => start.at > killedAt && start.errorsBefore > 0 && !start.down && !start.fallback)
            .map((start) => start.at),
        ) - killedAt,
    );
    const outage = fallback.map((start) => start.at - killedAt);
    console.info(
      `Sentinel failover, failureMode '${failureMode}': the sentinels named the new primary ${(failoverMs / 1_000).toFixed(2)} s after the kill; ` +
        `${fallback.length} starts granted without Redis` +
        (fallback.length === 0 ? '' : `, ${Math.min(...outage).toFixed(0)} to ${Math.max(...outage).toFixed(0)} ms after it`) +
        `; the processes granted by the new primary from ${back.map((ms) => ms.toFixed(0)).join(', ')} ms; ` +
        `fullest window: ${before} before the kill, ${after} after the outage, ${anyWindow} overall (limit ${LIMIT}); ` +
        `errors reported: ${reports.map((report) => report.errors.length).join(', ')}`,
    );

    // No promise lost: every task fulfilled, none rejected, none left waiting.
    for (const report of reports) {
      expect(report.unsettled).toBe(0);
      expect(report.rejected).toEqual([]);
      expect(report.fulfilled).toBe(TASKS);
      // The outage was reported (once per outage), as StoreErrors and nothing else.
      expect(report.errors.length).toBeGreaterThanOrEqual(1);
      for (const error of report.errors) expect(error).toMatchObject({ name: 'StoreError', code: 'RLC_ERR_STORE' });
    }
    expect(all).toHaveLength(PROCESSES * TASKS);
    // The run went through the failover: the window was binding before the kill (a run too slow to
    // fill it would keep any bound), and every process was granted by the new primary after it.
    expect(before).toBe(LIMIT);
    for (const [i, report] of reports.entries()) {
      expect(back[i]).toBeLessThan(Infinity);
      expect(report.stats.down).toBe(false);
    }
    return { reports, all, fallback, before, after, anyWindow, back };
  }

  it("'local' (the default): exact windows before the kill and after the outage, and at most the limit plus every process's share in those between", async () => {
    const run = await failover('local');
    expect(run.before).toBeLessThanOrEqual(LIMIT);
    expect(run.after).toBeLessThanOrEqual(LIMIT);
    expect(run.anyWindow).toBeLessThanOrEqual(LIMIT + PROCESSES * Math.floor(LIMIT / PROCESSES));
    // The outage's shares were used: starts were granted without Redis.
    expect(run.fallback.length).toBeGreaterThan(0);
  }, 60_000);

  it("'closed': nothing starts without a primary, and every window holds at most the limit", async () => {
    const run = await failover('closed');
    expect(run.fallback).toEqual([]);
    expect(run.anyWindow).toBeLessThanOrEqual(LIMIT);
  }, 60_000);
});
