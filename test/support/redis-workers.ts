import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerSettings } from './redis-worker.js';

export type { WorkerSettings };

export interface WorkerResult {
  starts: number[];
  ends: number[];
  failures: string[];
  /** The store's `stats().restamps` at the end. */
  restamps: number;
  errors: string[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface RedisWorker {
  readonly child: ChildProcess;
  /** Resolves once the worker is connected and waits for `go()`. */
  readonly ready: Promise<void>;
  /** Lets the worker start its tasks. */
  go(): void;
  /** Resolves when the worker has started `count` tasks. */
  started(count: number): Promise<void>;
  /** Resolves when the process has exited, with what it reported (starts and ends empty when killed before `done`). */
  readonly exited: Promise<WorkerResult>;
}

const workerPath = fileURLToPath(new URL('./redis-worker.ts', import.meta.url));

/** Workers still running: killed when the test process exits, so none outlives its test run. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `test/support/redis-worker.ts` in its own Node process (through tsx, as the tests run). */
export function spawnRedisWorker(settings: WorkerSettings): RedisWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', workerPath, JSON.stringify(settings)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  let buffered = '';
  let startCount = 0;
  const startWaiters: Array<{ count: number; resolve: () => void }> = [];
  const result: WorkerResult = { starts: [], ends: [], failures: [], restamps: 0, errors: [], exitCode: null, signal: null };
  let markReady: () => void = () => {};
  let failReady: (error: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const message = JSON.parse(line) as { type: string } & Partial<WorkerResult> & { message?: string };
      if (message.type === 'ready') markReady();
      else if (message.type === 'error') result.errors.push(message.message ?? '');
      else if (message.type === 'start') {
        startCount++;
        for (const waiter of startWaiters.filter((w) => startCount >= w.count)) waiter.resolve();
      } else if (message.type === 'done') {
        result.starts = message.starts ?? [];
        result.ends = message.ends ?? [];
        result.failures = message.failures ?? [];
        result.restamps = message.restamps ?? 0;
      }
    }
  });
  const exited = new Promise<WorkerResult>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      result.exitCode = code;
      result.signal = signal;
      failReady(new Error(`worker exited before it was ready (code ${code}, signal ${signal}): ${stderr}`));
      if (code !== 0 && signal === null) result.errors.push(`exit code ${code}: ${stderr}`);
      resolve(result);
    });
  });
  return {
    child,
    ready,
    go: () => child.stdin?.write('go\n'),
    started: (count) => (startCount >= count ? Promise.resolve() : new Promise((resolve) => startWaiters.push({ count, resolve }))),
    exited,
  };
}
