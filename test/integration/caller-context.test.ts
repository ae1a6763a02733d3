/**
 * The caller's async context through every HTTP entry point, on real sockets (API.md, "The caller's
 * async context"): `get()` with its retries, `client.fetch`, the undici interceptor, a cooldown's end,
 * and a grant that reaches a process over Redis pub/sub. A dispatcher reads the AsyncLocalStorage store
 * at the moment each request is dispatched, as a logger or a tracing hook would; the issue measured
 * 7 of 9, 5 of 6 and 5 of 6 dispatches in another caller's context before the fix.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RateLimitedClient, rateLimit } from '../../src/index.js';
import { heldTask, useRedisServer } from '../support/redis-fixtures.js';
import { describeWithRedis } from '../support/redis-server.js';

const als = new AsyncLocalStorage<string>();

/** An undici Agent that records, per request path, the store current when it was dispatched. */
class RecordingAgent extends Agent {
  readonly seen: Array<[path: string, store: string | undefined]> = [];
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    this.seen.push([options.path, als.getStore()]);
    return super.dispatch(options, handler);
  }
}

/**
 * A server on 127.0.0.1: `/flaky/<n>` answers 503 the first time and 200 after; `/cool` answers 429 with
 * Retry-After 0.2 s the first time (a cooldown for the whole client); anything else 200.
 */
async function startServer() {
  const seenPaths = new Set<string>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    const first = !seenPaths.has(path);
    seenPaths.add(path);
    if (first && path.startsWith('/flaky/')) res.writeHead(503).end('try again');
    else if (first && path === '/cool') res.writeHead(429, { 'retry-after': '0.2' }).end('slow down');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: ConstructorParameters<typeof RateLimitedClient>[0] = {}) {
  const server = await startServer();
  const agent = new RecordingAgent();
  const client = new RateLimitedClient({
    baseUrl: server.url,
    dispatcher: agent,
    concurrency: 1,
    rateLimit: { limit: 2, windowMs: 150 },
    retry: { retries: 2, minDelayMs: 10, maxDelayMs: 20 },
    ...options,
  });
  cleanups.push(
    server.close,
    () => agent.close(),
    () => client.close({ drain: false }),
  );
  return { server, agent, client };
}

/** Runs `call(i)` for six callers, each in its own context; returns the store each resumed in. */
async function sixCallers(call: (i: number) => Promise<unknown>): Promise<Array<string | undefined>> {
  return Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      als.run(`caller-${i}`, async () => {
        await call(i);
        return als.getStore();
      }),
    ),
  );
}

const CALLERS = Array.from({ length: 6 }, (_, i) => `caller-${i}`);

/** Every dispatch of a path `/…/<i>` happened in caller i's context. */
function expectOwnContexts(seen: ReadonlyArray<[string, string | undefined]>, count: number): void {
  expect(seen).toHaveLength(count);
  for (const [path, store] of seen) expect(store, path).toBe(`caller-${path.split('/').pop()}`);
}

describe("the caller's context on every HTTP entry point", () => {
  for (const transport of ['fetch', 'undici'] as const) {
    it(`get() on the '${transport}' transport: first attempts and retries dispatch in the caller's context`, async () => {
      const { agent, client } = await setup({ transport });
      const resumed = await sixCallers((i) => client.get(`/flaky/${i}`));
      // Six first attempts refused with 503, six retries.
      expectOwnContexts(agent.seen, 12);
      expect(resumed).toEqual(CALLERS);
      expect(client.stats().retried).toBe(6);
    });
  }

  it("client.fetch dispatches in the caller's context", async () => {
    const { server, agent, client } = await setup();
    const resumed = await sixCallers(async (i) => (await client.fetch(`${server.url}/plain/${i}`)).text());
    expectOwnContexts(agent.seen, 6);
    expect(resumed).toEqual(CALLERS);
  });

  it("the interceptor dispatches in the caller's context", async () => {
    const server = await startServer();
    const agent = new RecordingAgent();
    const client = new RateLimitedClient({ concurrency: 1, rateLimit: { limit: 2, windowMs: 150 } });
    cleanups.push(
      server.close,
      () => agent.close(),
      () => client.close({ drain: false }),
    );
    const dispatcher = agent.compose(rateLimit(client));
    const resumed = await sixCallers(async (i) => (await request(`${server.url}/plain/${i}`, { dispatcher })).body.text());
    expectOwnContexts(agent.seen, 6);
    expect(resumed).toEqual(CALLERS);
  });

  it("requests held by a server's cooldown start, when it ends, in their callers' contexts", async () => {
    const { agent, client } = await setup({ rateLimit: { limit: 100, windowMs: 1_000 } });
    // Caller 0's request is refused with Retry-After 0.2 s: every other request waits for its end.
    const cool = als.run('caller-cool', () => client.get('/cool'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const resumed = await sixCallers((i) => client.get(`/after-cooldown/${i}`));
    await cool;
    const afterCooldown = agent.seen.filter(([path]) => path.startsWith('/after-cooldown/'));
    expectOwnContexts(afterCooldown, 6);
    expect(resumed).toEqual(CALLERS);
    expect(agent.seen.filter(([path]) => path === '/cool').map(([, store]) => store)).toEqual(['caller-cool', 'caller-cool']);
  });
});

describeWithRedis("the caller's context with a RedisStore", () => {
  const { fixtures } = useRedisServer();

  it("a task started by a grant that arrives over pub/sub runs in its caller's context", async () => {
    const key = `context-${randomUUID()}`;
    // One unit of concurrency shared by two processes' clients: B's tasks wait for A's to end, and A's
    // release reaches B as a pub/sub wake-up.
    const limits = { concurrency: 1, rateLimit: { limit: 100, windowMs: 60_000 } };
    const a = await fixtures.client({ key }, limits);
    const b = await fixtures.client({ key }, limits);
    const held = heldTask();
    const holding = a.client.schedule(held.task);
    await held.started;
    const ranIn: Array<string | undefined> = [];
    const resumed = sixCallers((i) =>
      b.client.schedule(() => {
        ranIn[i] = als.getStore();
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ranIn).toEqual([]);
    held.finish();
    await holding;
    expect(await resumed).toEqual(CALLERS);
    expect(ranIn).toEqual(CALLERS);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });
});
