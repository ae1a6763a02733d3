/**
 * The soak of `test/reliability/leaks.test.ts`, in a process of its own (started with `--expose-gc`,
 * through tsx) so that the test runner's heap does not blur the figures.
 *
 * argv[2] is JSON: `{ base, tasks, requests }`. `base` is an HTTP server on 127.0.0.1 run by the parent
 * (so the server's own sockets and buffers are not in this heap): `/ok` answers a small JSON body,
 * `/missing` a 404.
 *
 * 1. Warm-up: the same mix at a twentieth of the size (at least 10 000 tasks and 3 000 requests: with
 *    fewer, compiled code and undici's own state still grew by ~1 MB after the baseline) through
 *    clients that are then closed.
 * 2. Baseline: heap after forced GC.
 * 3. Soak: `tasks` no-op tasks (in batches, each awaited, so the queue never holds more than a batch)
 *    and `requests` HTTP requests, a third each through `get` on the 'undici' transport, `get` on the
 *    'fetch' transport, and `client.fetch`; then every client is closed and dropped.
 * 4. After: heap after forced GC.
 *
 * A long-lived "shutdown" signal, created before the baseline and alive to the end (as a process-wide
 * one would be), goes to a quarter of the tasks and to every request: whatever the client leaves
 * attached to a caller's signal is counted in `after`.
 *
 * Prints one line of JSON: `{ baseline, after, peak, perOp, tasks, requests, ms, failures,
 * shutdownAborted }` (bytes; `perOp` = (after - baseline) / (tasks + requests)).
 */
import { RateLimitedClient } from '../../src/index.js';
import { settledHeap } from './leak-heap.js';

interface SoakSettings {
  base: string;
  tasks: number;
  requests: number;
}

const settings = JSON.parse(process.argv[2] as string) as SoakSettings;
const TASK_BATCH = 1_000;
const REQUEST_BATCH = 50;

let peak = 0;
const notePeak = () => {
  peak = Math.max(peak, process.memoryUsage().heapUsed);
};

/** The expected outcome of each kind of task; anything else is counted as a failure. */
let failures = 0;
const expectFailure = (error: unknown) => {
  if (!(error instanceof Error && error.message === 'planned')) failures++;
};

async function runTasks(client: RateLimitedClient, count: number, shutdown: AbortSignal): Promise<void> {
  for (let done = 0; done < count; done += TASK_BATCH) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = done; i < Math.min(count, done + TASK_BATCH); i++) {
      // Every kind of per-task state the scheduler keeps: a caller's signal (and the task reading its
      // own), a run timer, a place in the deadline heap, priorities, and a task that fails.
      switch (i % 4) {
        case 0:
          batch.push(client.schedule(() => undefined));
          break;
        case 1:
          batch.push(client.schedule(({ signal }) => signal.aborted, { signal: shutdown, timeoutMs: 60_000 }));
          break;
        case 2:
          batch.push(client.schedule(async () => i, { priority: i % 7, maxWaitMs: 60_000 }));
          break;
        default:
          batch.push(
            client
              .schedule(() => {
                throw new Error('planned');
              })
              .catch(expectFailure),
          );
      }
    }
    await Promise.all(batch);
    notePeak();
  }
}

async function runRequests(
  undiciClient: RateLimitedClient,
  fetchClient: RateLimitedClient,
  count: number,
  shutdown: AbortSignal,
): Promise<void> {
  for (let done = 0; done < count; done += REQUEST_BATCH) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = done; i < Math.min(count, done + REQUEST_BATCH); i++) {
      // One in ten is a 404: the HttpError path (a body preview, redacted headers) is soaked too.
      const path = i % 10 === 9 ? '/missing' : '/ok';
      const httpError = (error: unknown) => {
        if (!(path === '/missing' && error instanceof Error && (error as { status?: number }).status === 404)) failures++;
      };
      switch (i % 3) {
        case 0:
          batch.push(undiciClient.get(path, { signal: shutdown }).then((res) => res.json(), httpError));
          break;
        case 1:
          batch.push(fetchClient.get(path, { signal: shutdown }).then((res) => res.json(), httpError));
          break;
        default:
          batch.push(fetchClient.fetch(`${settings.base}${path}`, { signal: shutdown }).then((res) => res.arrayBuffer()));
      }
    }
    await Promise.all(batch);
    notePeak();
  }
}

async function soak(tasks: number, requests: number, shutdown: AbortSignal): Promise<void> {
  const common = {
    baseUrl: settings.base,
    concurrency: 16,
    // High enough never to hold anything back, so the sliding-window log is exercised, not the waiting.
    rateLimit: { limit: 10_000_000, windowMs: 1_000 },
    timeoutMs: 30_000,
    retry: false as const,
  };
  const undiciClient = new RateLimitedClient({ ...common, transport: 'undici' });
  const fetchClient = new RateLimitedClient({ ...common, transport: 'fetch' });
  await runTasks(undiciClient, Math.ceil(tasks / 2), shutdown);
  await runTasks(fetchClient, Math.floor(tasks / 2), shutdown);
  await runRequests(undiciClient, fetchClient, requests, shutdown);
  await Promise.all([undiciClient.close(), fetchClient.close()]);
}

const shutdown = new AbortController();
await soak(Math.max(10_000, Math.ceil(settings.tasks / 20)), Math.max(3_000, Math.ceil(settings.requests / 20)), shutdown.signal);
const baseline = await settledHeap();
const started = performance.now();
await soak(settings.tasks, settings.requests, shutdown.signal);
const ms = performance.now() - started;
const after = await settledHeap();

process.stdout.write(
  `${JSON.stringify({
    baseline,
    after,
    peak,
    perOp: (after - baseline) / (settings.tasks + settings.requests),
    tasks: settings.tasks,
    requests: settings.requests,
    ms: Math.round(ms),
    failures,
    shutdownAborted: shutdown.signal.aborted,
  })}\n`,
);
