import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher, fetch, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { maxInAnyWindow, utilisation } from '../../examples/support/window-count.js';
import { ClientClosedError, RateLimitedClient, rateLimit } from '../../src/index.js';

interface Arrival {
  at: number;
  path: string;
  tag: string | undefined;
}

/**
 * A real server on 127.0.0.1 that records when each request arrives. `/slow` answers after 50 ms
 * (recording when it answered), `/destroy` kills the socket, anything else answers `ok` at once.
 */
async function startServer() {
  const arrivals: Arrival[] = [];
  const answeredAt: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push({ at: performance.now(), path: req.url ?? '', tag: req.headers['x-tag'] as string | undefined });
    if (req.url === '/destroy') return void req.socket.destroy();
    const answer = () => {
      answeredAt.push(performance.now());
      res.end('ok');
    };
    if (req.url === '/slow') setTimeout(answer, 50);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://127.0.0.1:${port}`, arrivals, answeredAt, close };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A client, a server and an agent composed with the interceptor, all closed after the test. */
async function setup(client: RateLimitedClient, options?: Parameters<typeof rateLimit>[1]) {
  const server = await startServer();
  const agent = new Agent();
  const dispatcher = agent.compose(rateLimit(client, options));
  cleanups.push(
    server.close,
    () => agent.close(),
    () => client.close({ drain: false }),
  );
  return { server, dispatcher };
}

async function get(url: string, dispatcher: Dispatcher, init: Omit<NonNullable<Parameters<typeof request>[1]>, 'dispatcher'> = {}) {
  const res = await request(url, { ...init, dispatcher });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('rateLimit() undici interceptor', () => {
  it('keeps 200 parallel requests within 20 per 200 ms as the server counts them, near the ideal pace', async () => {
    const client = new RateLimitedClient({ rateLimit: { limit: 20, windowMs: 200 }, concurrency: 10 });
    const { server, dispatcher } = await setup(client);

    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => get(`${server.url}/n/${i}`, dispatcher)));

    expect(results.every((r) => r.status === 200 && r.body === 'ok')).toBe(true);
    const times = server.arrivals.map((a) => a.at);
    expect(times).toHaveLength(200);
    expect(maxInAnyWindow([...times], 200)).toBeLessThanOrEqual(20);
    // Ideal: 10 windows of 20, the last starting 9 × 200 = 1800 ms after the first. Each of the 9
    // waits also includes the response time of the request whose slot it reuses (slots count from the
    // response) and timer lateness on a busy 2-core machine: measured 1840-1950 ms. 25% over the ideal
    // passes under load yet fails if the pace degrades, e.g. slots freed a window late every other time.
    // The scheduler's own real-time test checks lateness precisely.
    const span = Math.max(...times) - Math.min(...times);
    console.log(`interceptor: span ${span.toFixed(1)} ms, utilisation ${utilisation(times, 20, 200).toFixed(4)}`);
    expect(span).toBeLessThan(1800 * 1.25);
    expect(client.stats()).toMatchObject({ completed: 200, failed: 0, inFlight: 0, queued: 0 });
  });

  it('counts a request from its response, not its send (through undici.fetch)', async () => {
    const client = new RateLimitedClient({ rateLimit: { limit: 1, windowMs: 100 } });
    const { server, dispatcher } = await setup(client);

    const texts = await Promise.all([0, 1].map(async () => (await fetch(`${server.url}/slow`, { dispatcher })).text()));

    expect(texts).toEqual(['ok', 'ok']);
    const [first, second] = server.arrivals.map((a) => a.at) as [number, number];
    const [firstAnswered] = server.answeredAt as [number];
    // The client saw the first response after the server sent it, and its slot frees 100 ms later.
    expect(second - firstAnswered).toBeGreaterThanOrEqual(100);
    // Counted from the send, the second would have arrived about 100 ms after the first, not 150.
    expect(second - first).toBeGreaterThanOrEqual(150);
  });

  it('takes a request aborted while queued out of the queue; the server never sees it', async () => {
    const client = new RateLimitedClient();
    const { server, dispatcher } = await setup(client);
    client.pause();

    const controller = new AbortController();
    const pending = get(`${server.url}/aborted`, dispatcher, { signal: controller.signal });
    // request() dispatches synchronously, so the request is in the queue now.
    expect(client.stats().queued).toBe(1);
    const reason = new Error('caller gave up');
    controller.abort(reason);

    await expect(pending).rejects.toBe(reason);
    expect(client.stats()).toMatchObject({ aborted: 1, queued: 0, inFlight: 0 });
    client.resume();
    // A later request goes through, and it is the only one the server ever saw.
    await expect(get(`${server.url}/after`, dispatcher)).resolves.toEqual({ status: 200, body: 'ok' });
    expect(server.arrivals.map((a) => a.path)).toEqual(['/after']);
  });

  it('ends a request aborted while in flight: the caller gets the reason, the task counts as aborted, its worker is free', async () => {
    const client = new RateLimitedClient({ concurrency: 1 });
    const { server, dispatcher } = await setup(client);

    const controller = new AbortController();
    const pending = get(`${server.url}/slow`, dispatcher, { signal: controller.signal });
    // Aborted once the server has it (it answers 50 ms later): the request is running, not queued.
    await expect.poll(() => server.arrivals.length).toBe(1);
    expect(client.stats()).toMatchObject({ inFlight: 1, queued: 0 });
    const reason = new Error('caller gave up mid-flight');
    controller.abort(reason);

    await expect(pending).rejects.toBe(reason);
    await client.onIdle();
    expect(client.stats()).toMatchObject({ aborted: 1, completed: 0, inFlight: 0 });
    // The only worker is free again.
    await expect(get(`${server.url}/next`, dispatcher)).resolves.toEqual({ status: 200, body: 'ok' });
  });

  it('serves by the priority the option function gives (here from a header)', async () => {
    const client = new RateLimitedClient({ concurrency: 1 });
    const { server, dispatcher } = await setup(client, {
      // These requests pass their headers as a plain object, which is what the dispatcher sees.
      priority: (opts) => Number((opts.headers as Record<string, string>)['x-priority']),
    });
    client.pause();

    const send = (tag: string, priority: number) =>
      get(`${server.url}/p`, dispatcher, { headers: { 'x-tag': tag, 'x-priority': String(priority) } });
    const all = Promise.all([send('low-1', 5), send('low-2', 5), send('high-1', 0), send('low-3', 5), send('high-2', 0)]);
    client.resume();
    await all;

    expect(server.arrivals.map((a) => a.tag)).toEqual(['high-1', 'high-2', 'low-1', 'low-2', 'low-3']);
  });

  it('rejects with ClientClosedError once the client is closed', async () => {
    const client = new RateLimitedClient();
    const { server, dispatcher } = await setup(client);
    await client.close();

    await expect(get(`${server.url}/late`, dispatcher)).rejects.toBeInstanceOf(ClientClosedError);
    expect(server.arrivals).toHaveLength(0);
  });

  it('passes a connection error to the caller and frees the worker', async () => {
    const client = new RateLimitedClient({ concurrency: 1 });
    const { server, dispatcher } = await setup(client);

    await expect(get(`${server.url}/destroy`, dispatcher)).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
    await client.onIdle();
    expect(client.stats()).toMatchObject({ inFlight: 0, failed: 1 });
    // The only worker is free again.
    await expect(get(`${server.url}/next`, dispatcher)).resolves.toEqual({ status: 200, body: 'ok' });
  });

  it('ends a raw dispatch handler exactly once on every path', async () => {
    const client = new RateLimitedClient({ concurrency: 1 });
    const { server, dispatcher } = await setup(client);

    /** Dispatches and records every handler call; resolves with the calls once the client is idle. */
    const trace = async (path: string, act?: (controller: Dispatcher.DispatchController) => void) => {
      const calls: string[] = [];
      dispatcher.dispatch(
        { origin: server.url, path, method: 'GET' },
        {
          onRequestStart: (controller) => {
            calls.push('start');
            act?.(controller);
          },
          onResponseStart: () => void calls.push('headers'),
          onResponseData: () => void calls.push('data'),
          onResponseEnd: () => void calls.push('end'),
          onResponseError: (_controller, error) => void calls.push(`error: ${error.message}`),
        },
      );
      await client.onIdle();
      // One more turn of the event loop, for any late (duplicate) call to show up.
      await new Promise((resolve) => setImmediate(resolve));
      return calls;
    };

    expect(await trace('/ok')).toEqual(['start', 'headers', 'data', 'end']);
    expect(await trace('/destroy')).toEqual(['start', 'error: other side closed']);
    client.pause();
    expect(await trace('/queued', (controller) => controller.abort(new Error('stop')))).toEqual(['start', 'error: stop']);
    client.resume();
    await client.close();
    expect(await trace('/closed')).toEqual(['start', 'error: The client is closed']);
  });

  it('checks its options, naming the option', () => {
    const client = new RateLimitedClient();
    cleanups.push(() => client.close());
    expect(() => rateLimit({} as never)).toThrow(/`client`/);
    expect(() => rateLimit(client, { priority: Number.NaN })).toThrow(RangeError);
    expect(() => rateLimit(client, { priority: '1' as unknown as number })).toThrow(/Expected `priority` to be a number or a function/);
    expect(() => rateLimit(client, { weight: 0 })).toThrow(/Expected `weight` to be an integer >= 1, got `0` \(number\)/);
    expect(() => rateLimit(client, { wieght: 1 } as never)).toThrow(/Unknown option `wieght`/);
  });

  it('rejects a request whose weight function gives a bad value, before sending it', async () => {
    const client = new RateLimitedClient();
    const { server, dispatcher } = await setup(client, { weight: () => 0 });

    await expect(get(`${server.url}/w`, dispatcher)).rejects.toThrow(/Expected `weight` to be an integer >= 1/);
    expect(server.arrivals).toHaveLength(0);
  });
});
