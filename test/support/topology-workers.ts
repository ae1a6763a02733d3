// The settings and report of a topology worker (test/support/topology-worker.ts), and how to start one.
import type { RedisStoreStats } from '../../src/redis.js';
import type { HostPort } from './redis-topology.js';
import { spawnScriptWorker, type ScriptWorker } from './script-worker.js';

/** How a worker reaches Redis. */
export type TopologyConnection =
  | { kind: 'ioredis-cluster'; nodes: HostPort[] }
  | { kind: 'ioredis-sentinel'; sentinels: HostPort[]; name: string }
  // NODE-REDIS: the other helper's node-redis support (src/stores/redis-clients.ts) had not landed when
  // this was written; a `{ kind: 'node-redis-cluster'; nodes: HostPort[] }` goes here, made with
  // `createCluster({ rootNodes: nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })) })`.
  | { kind: 'node-redis-cluster'; nodes: HostPort[] };

export interface TopologyWorkerSettings {
  connection: TopologyConnection;
  key: string;
  tasks: number;
  limit: number;
  windowMs: number;
  /** How long each task runs. */
  taskMs: number;
  concurrency: number;
  /** How long the worker waits for its tasks to settle before it reports the rest as unsettled. */
  settleDeadlineMs: number;
}

export interface TopologyStart {
  /** Epoch ms, when the task began. */
  at: number;
  /** The store counted Redis as down when the task began: a grant of the failure mode ('local'). */
  down: boolean;
  /** The store's fallback grants had grown since the previous start: this start (or one beside it) was granted without Redis. */
  fallback: boolean;
}

export interface TopologyReport {
  starts: TopologyStart[];
  /** Tasks whose promise was fulfilled. */
  fulfilled: number;
  /** The messages of tasks whose promise was rejected. */
  rejected: string[];
  /** Tasks whose promise had not settled by `settleDeadlineMs` after the last was scheduled. */
  unsettled: number;
  /** The client's `error` events: name, code where there is one, message. */
  errors: Array<{ name: string; code: string | undefined; message: string }>;
  stats: RedisStoreStats;
}

/**
 * Starts `test/support/topology-worker.ts` in its own Node process (through tsx, from the repository
 * root), with `spawnScriptWorker`'s protocol.
 */
export function spawnTopologyWorker(settings: TopologyWorkerSettings): ScriptWorker<TopologyReport> {
  return spawnScriptWorker<TopologyReport>("await import('./test/support/topology-worker.ts');", settings);
}
