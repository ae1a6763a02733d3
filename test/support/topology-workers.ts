// The settings and report of a topology worker (test/support/topology-worker.ts), and how to start one.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RedisStoreStats } from '../../src/redis.js';
import type { HostPort } from './redis-topology.js';

/** How a worker reaches Redis. */
export type TopologyConnection =
  | { kind: 'ioredis-cluster'; nodes: HostPort[] }
  | { kind: 'ioredis-sentinel'; sentinels: HostPort[]; name: string }
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
  /** The store's `failureMode`; its default ('local') when left out. */
  failureMode?: 'local' | 'closed' | 'open';
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
  /** The client's `error` events before this start: a start with some, neither `down` nor `fallback`, was granted by Redis after an outage. */
  errorsBefore: number;
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

export interface TopologyWorker {
  readonly child: ChildProcess;
  /** Resolves once its client is connected (it printed `ready`). */
  readonly ready: Promise<void>;
  /** Lets it schedule its tasks. */
  go(): void;
  /** Tasks begun so far (it prints `start` as each begins). */
  readonly started: number;
  /** Called as each of its tasks begins. */
  onStart(listener: () => void): void;
  /** Its report (its last line, JSON) once it exited with 0; rejects with its stderr otherwise. */
  readonly report: Promise<TopologyReport>;
  kill(): void;
}

const workerPath = fileURLToPath(new URL('./topology-worker.ts', import.meta.url));

/** Workers still running: killed when the test process exits, so none outlives its test run. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `test/support/topology-worker.ts` in its own Node process (through tsx, as the tests run),
 * its settings in RLC_SETTINGS. It prints `ready` once connected, waits for a line on stdin, prints
 * `start` as each task begins, and its report (JSON) last.
 */
export function spawnTopologyWorker(settings: TopologyWorkerSettings): TopologyWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', workerPath], {
    env: { ...process.env, RLC_SETTINGS: JSON.stringify(settings) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  let buffered = '';
  let last = '';
  let started = 0;
  const listeners: Array<() => void> = [];
  let markReady!: () => void;
  let failReady!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line === 'ready') markReady();
      else if (line === 'start') {
        started++;
        for (const listener of listeners) listener();
      } else last = line;
    }
  });
  const report = new Promise<TopologyReport>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      const error = new Error(`topology worker exited with ${code ?? signal}: ${stderr}`);
      failReady(error);
      if (code !== 0 || !last.startsWith('{')) reject(error);
      else resolve(JSON.parse(last) as TopologyReport);
    });
  });
  // A worker that fails before its report: the test reads the rejection where it awaits `report`.
  report.catch(() => {});
  return {
    child,
    ready,
    go: () => child.stdin.write('go\n'),
    get started() {
      return started;
    },
    onStart: (listener) => listeners.push(listener),
    report,
    kill: () => child.kill('SIGKILL'),
  };
}
