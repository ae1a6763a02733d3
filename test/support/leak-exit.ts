/**
 * A child process for the "exits by itself" tests of `test/reliability/leaks.test.ts`: it uses a client
 * in one of several ways, awaits `close()`, prints what happened, and then does nothing at all. Once
 * `close()` has resolved, nothing of the client may keep the event loop alive: no timer, no socket, no
 * Redis connection of the store's own.
 *
 * argv[2] is JSON: `{ base, variant, redisUrl? }`. `base` is the parent's HTTP server, which keeps
 * keep-alive connections open for minutes: only the client closes them sooner.
 *
 * Every line printed is JSON:
 * - `{ "type": "closed", ...facts }` once `close()` (and, for Redis, the disconnect) has resolved; the
 *   facts are what the parent checks the scenario really happened (a retry was waiting, queued work
 *   was rejected, ...).
 * - `{ "type": "still-alive", resources }` if the process is still running a while later: what
 *   holds it (`process.getActiveResourcesInfo()`), printed from an unref'd timer that can not hold it.
 */
import { HttpError, RateLimitedClient, type RateLimitedClientOptions } from '../../src/index.js';

export type ExitVariant = 'basic' | 'drain-false' | 'paused' | 'retry-drain' | 'retry-discard' | 'timed-out' | 'redis';

interface ExitSettings {
  base: string;
  variant: ExitVariant;
  redisUrl?: string;
}

const settings = JSON.parse(process.argv[2] as string) as ExitSettings;
const { base } = settings;
const print = (line: object): void => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

/** Long enough that any timer of the client left armed would hold the process past the parent's bound. */
const LONG_MS = 60_000;

/** A window the runs below fill, so the wake timer is armed on the way; and every timeout set. */
function clientFor(transport: 'undici' | 'fetch', extra: RateLimitedClientOptions = {}) {
  return new RateLimitedClient({
    baseUrl: base,
    transport,
    concurrency: 4,
    rateLimit: [
      { limit: 10, windowMs: 100 },
      { limit: 1_000, windowMs: LONG_MS },
    ],
    timeoutMs: LONG_MS / 2,
    ...extra,
  });
}

/** Tasks with every per-task timer and listener the scheduler has: a run timeout, a deadline, a signal. */
function someTasks(client: RateLimitedClient, count: number, signal: AbortSignal): Array<Promise<unknown>> {
  return Array.from({ length: count }, (_, i) =>
    client.schedule(
      async ({ signal: own }) => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        return own.aborted;
      },
      { priority: i % 3, timeoutMs: LONG_MS, maxWaitMs: LONG_MS, signal },
    ),
  );
}

/** GETs through the client (both a success and an HttpError) and, on the fetch transport, `client.fetch`. */
async function someRequests(client: RateLimitedClient, transport: 'undici' | 'fetch', signal: AbortSignal): Promise<number> {
  let done = 0;
  for (let i = 0; i < 3; i++) {
    await (await client.get('/ok', { signal })).json();
    done++;
  }
  await client.get('/missing', { signal }).then(
    () => {
      throw new Error('expected a 404');
    },
    (error: unknown) => {
      if (!(error instanceof HttpError)) throw error;
      done++;
    },
  );
  if (transport === 'fetch') {
    for (let i = 0; i < 3; i++) {
      await (await client.fetch(`${base}/ok`, { signal })).arrayBuffer();
      done++;
    }
  }
  return done;
}

/** Resolves at the client's next `retry` event. */
function nextRetry(client: RateLimitedClient): Promise<number> {
  return new Promise((resolve) => {
    const listener = (event: { delayMs: number }) => {
      client.off('retry', listener);
      resolve(event.delayMs);
    };
    client.on('retry', listener);
  });
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.constructor.name : typeof error;
}

const shutdown = new AbortController();
const facts: Record<string, unknown> = {};

switch (settings.variant) {
  case 'basic': {
    for (const transport of ['undici', 'fetch'] as const) {
      const client = clientFor(transport);
      const tasks = someTasks(client, 40, shutdown.signal);
      facts[`${transport}Requests`] = await someRequests(client, transport, shutdown.signal);
      facts[`${transport}Tasks`] = (await Promise.all(tasks)).length;
      await client.close();
    }
    break;
  }

  case 'drain-false': {
    // The long window is used up: what is queued waits for a minute (the wake timer and the deadline
    // timer are armed for it) when the client is closed without draining.
    for (const transport of ['undici', 'fetch'] as const) {
      const client = clientFor(transport, { rateLimit: { limit: 8, windowMs: LONG_MS } });
      await Promise.all(someTasks(client, 4, shutdown.signal));
      await someRequests(client, 'undici', shutdown.signal);
      const queued = [
        ...someTasks(client, 20, shutdown.signal),
        client.get('/ok', { signal: shutdown.signal }),
        client.fetch(`${base}/ok`, { signal: shutdown.signal }),
      ].map((promise) => promise.then(() => 'fulfilled', errorName));
      await new Promise((resolve) => setImmediate(resolve));
      facts[`${transport}QueuedAtClose`] = client.stats().queued;
      await client.close({ drain: false });
      facts[`${transport}Outcomes`] = [...new Set(await Promise.all(queued))];
    }
    break;
  }

  case 'paused': {
    for (const transport of ['undici', 'fetch'] as const) {
      // One paused with work queued (a draining close resumes it), one paused with nothing to do.
      const busy = clientFor(transport);
      await someRequests(busy, transport, shutdown.signal);
      busy.pause();
      const tasks = someTasks(busy, 20, shutdown.signal);
      const request = busy.get('/ok', { signal: shutdown.signal });
      facts[`${transport}QueuedWhilePaused`] = busy.stats().queued;
      await busy.close();
      facts[`${transport}Finished`] = (await Promise.all([...tasks, request])).length;

      const idle = clientFor(transport);
      await someRequests(idle, transport, shutdown.signal);
      idle.pause();
      await idle.close();
    }
    break;
  }

  case 'retry-drain': {
    // `/flaky` answers 503 once per id, then 200: the draining close waits out the retry's delay.
    for (const transport of ['undici', 'fetch'] as const) {
      // adaptive: false: a bare 503 would otherwise teach the client a cooldown and a pace, and its retry
      // would wait in the queue (delay 0) instead of out a delay of its own, which is the case here.
      const client = clientFor(transport, { adaptive: false, retry: { retries: 2, minDelayMs: 300, maxDelayMs: 300, jitter: 'none' } });
      await someRequests(client, transport, shutdown.signal);
      const retried = nextRetry(client);
      const request = client.get(`/flaky?id=${transport}-${process.pid}`, { signal: shutdown.signal });
      facts[`${transport}RetryDelayMs`] = await retried;
      const closing = performance.now();
      await client.close();
      facts[`${transport}CloseMs`] = Math.round(performance.now() - closing);
      facts[`${transport}Status`] = (await request).status;
    }
    break;
  }

  case 'retry-discard': {
    // `/unavailable` always answers 503; the retry would wait a minute, but the close does not drain.
    for (const transport of ['undici', 'fetch'] as const) {
      // adaptive: false, as in 'retry-drain'.
      const client = clientFor(transport, {
        adaptive: false,
        retry: { retries: 2, minDelayMs: LONG_MS, maxDelayMs: LONG_MS, jitter: 'none' },
      });
      await someRequests(client, transport, shutdown.signal);
      const retried = nextRetry(client);
      const request = client.get('/unavailable', { signal: shutdown.signal }).then(() => 'fulfilled', errorName);
      facts[`${transport}RetryDelayMs`] = await retried;
      await client.close({ drain: false });
      facts[`${transport}Outcome`] = await request;
    }
    break;
  }

  case 'timed-out': {
    // A task that ignores its signal runs on for a second after its timeout; a request to a server that
    // never answers times out. The draining close waits for the task to really end.
    for (const transport of ['undici', 'fetch'] as const) {
      const client = clientFor(transport, { retry: false });
      await someRequests(client, transport, shutdown.signal);
      let taskEnded = false;
      const task = client
        .schedule(
          async () => {
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            taskEnded = true;
          },
          { timeoutMs: 100 },
        )
        .then(() => 'fulfilled', errorName);
      const hung = client.get('/hang', { timeoutMs: 200 }).then(() => 'fulfilled', errorName);
      facts[`${transport}Outcomes`] = await Promise.all([task, hung]);
      facts[`${transport}TaskEndedBeforeClose`] = taskEnded;
      await client.close();
      facts[`${transport}TaskEndedAtClose`] = taskEnded;
    }
    break;
  }

  case 'redis': {
    const { Redis } = await import('ioredis');
    const { RedisStore } = await import('../../src/redis.js');
    for (const transport of ['undici', 'fetch'] as const) {
      const redis = new Redis(settings.redisUrl as string, { maxRetriesPerRequest: 1 });
      const store = new RedisStore({ redis, key: `leak-exit-${process.pid}-${transport}` });
      // Concurrency 2 under 40 tasks: refusals a release ends, so the store opens its subscriber too.
      const client = clientFor(transport, { store, concurrency: 2 });
      const tasks = someTasks(client, 40, shutdown.signal);
      facts[`${transport}Requests`] = await someRequests(client, transport, shutdown.signal);
      facts[`${transport}Tasks`] = (await Promise.all(tasks)).length;
      await client.close();
      facts[`${transport}RoundTrips`] = store.stats().roundTrips;
      redis.disconnect();
    }
    break;
  }

  default:
    throw new Error(`unknown variant ${String(settings.variant)}`);
}

// Sanity: the caller's signal was never aborted, and is still referenced here.
facts.shutdownAborted = shutdown.signal.aborted;
print({ type: 'closed', ...facts });
setTimeout(() => print({ type: 'still-alive', resources: process.getActiveResourcesInfo() }), 1_500).unref();
