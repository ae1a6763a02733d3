import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startMockApi } from '../../examples/support/mock-api.js';
import { HttpError, type RateLimitedEvent, RateLimitedClient, type RetryEvent } from '../../src/index.js';
import { watchStalls } from '../support/stalls.js';

// A quota of 50 per second that the client was told is 80 per second: the client must learn the rest
// from the server. 250 requests take ~5 s at the real quota: five full windows.
const QUOTA = { limit: 50, windowMs: 1_000 };
const TOLD = { limit: 80, windowMs: 1_000 };

describe('listening to the server', () => {
  it('with rate-limit headers: 250 requests, at most one 429, the windows tightened to the real quota', async () => {
    const api = await startMockApi({ ...QUOTA, rateLimitHeaders: 'x-ratelimit' });
    const client = new RateLimitedClient({ baseUrl: api.url, concurrency: 10, rateLimit: TOLD });
    const events: RateLimitedEvent[] = [];
    client.on('rate-limited', (event) => events.push(event));
    const responses = await Promise.all(Array.from({ length: 250 }, (_, i) => client.get(`/item/${i}`)));
    expect(responses.every((response) => response.ok)).toBe(true);
    const refused = api.statuses().filter((status) => status === 429).length;
    console.log(`rate-limit headers: ${refused} 429s of ${api.statuses().length} arrivals`);
    expect(refused).toBeLessThanOrEqual(1);
    expect(api.maxInAnyWindow(1_000)).toBeLessThanOrEqual(50);
    expect(client.stats().windows).toEqual([expect.objectContaining({ limit: 50, windowMs: 1_000 })]);
    expect(events.find((event) => event.reason === 'policy')?.windows).toEqual([{ limit: 50, windowMs: 1_000, counts: 'requests' }]);
    await client.close();
    await api.close();
  });

  it('with only the IETF RateLimit headers: never pushed into a 429 by a larger configured limit', async () => {
    const api = await startMockApi({ limit: 20, windowMs: 500, rateLimitHeaders: 'ietf' });
    const client = new RateLimitedClient({ baseUrl: api.url, concurrency: 10, rateLimit: { limit: 40, windowMs: 500 } });
    const responses = await Promise.all(Array.from({ length: 120 }, (_, i) => client.get(`/item/${i}`)));
    expect(responses.every((response) => response.ok)).toBe(true);
    expect(api.statuses().filter((status) => status === 429)).toEqual([]);
    expect(client.stats().windows).toEqual([expect.objectContaining({ limit: 20, windowMs: 500 })]);
    await client.close();
    await api.close();
  });

  it('with only Retry-After: every request succeeds, and nothing arrives while the client cools down', async () => {
    const api = await startMockApi(QUOTA);
    const client = new RateLimitedClient({ baseUrl: api.url, concurrency: 10, rateLimit: TOLD, transport: 'undici' });
    const retries: RetryEvent[] = [];
    client.on('retry', (event) => retries.push(event));
    const stalls = watchStalls();
    const responses = await Promise.all(Array.from({ length: 250 }, (_, i) => client.get(`/item/${i}`)));
    expect(responses.every((response) => response.ok)).toBe(true);

    const arrivals = api.arrivals();
    const statuses = api.statuses();
    const refused = arrivals.filter((_, i) => statuses[i] === 429);
    expect(refused.length).toBeGreaterThan(0);
    console.log(`Retry-After only: ${refused.length} 429s of ${arrivals.length} arrivals, ${retries.length} retries`);
    expect(client.stats().retried).toBe(retries.length);
    // After a 429 with Retry-After: 1 (s), every request waits: once the 429 has reached the client
    // (and requests already on the wire have arrived: allow 25 ms, plus the longest stall of this
    // process, which runs the server too and may see a request sent before the 429 only after a
    // stall), nothing arrives for the rest of the second. A generous allowance for a loaded machine;
    // without the cooldown, requests would keep arriving every ~12 ms (80 per second).
    const onTheWire = stalls.allowing(25);
    for (const at of refused) {
      const during = arrivals.filter((t) => t > at + onTheWire && t < at + 900);
      expect(during, `arrivals during the cooldown after the 429 at ${at.toFixed(0)}`).toEqual([]);
    }
    await client.close();
    await api.close();
  });
});

describe('what is retried', () => {
  async function failingServer(): Promise<{ url: string; hits: IncomingMessage[]; close(): Promise<void> }> {
    const hits: IncomingMessage[] = [];
    const server = createServer((req, res) => {
      hits.push(req);
      res.writeHead(503, { 'x-ratelimit-remaining': 'lots', 'x-ratelimit-reset': '-3', ratelimit: 'r=;t=' });
      res.end('down');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      hits,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it('POST only with an idempotency key, sent again the same; malformed rate-limit headers are ignored', async () => {
    const server = await failingServer();
    // Eight bare 503s in a row: the cooldown doubles from 100 ms each time (~12.7 s in all).
    // SHORT_WAITS=1 (CI's runs on Node 22 and 24) caps it at 400 ms (~2.5 s) through maxRetryAfterMs;
    // what is retried and with which key stays the same. Node 20 runs the whole doubling.
    const cap = process.env.SHORT_WAITS === '1' ? { maxRetryAfterMs: 400 } : {};
    const retry = { retries: 2, minDelayMs: 10, maxDelayMs: 20, ...cap };
    const client = new RateLimitedClient({ baseUrl: server.url, retry });
    await expect(client.post('/charge', { json: { amount: 1 } })).rejects.toBeInstanceOf(HttpError);
    expect(server.hits).toHaveLength(1);
    const error = await client.post('/charge', { json: { amount: 1 }, idempotencyKey: 'charge-42' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503 });
    expect(server.hits).toHaveLength(4);
    expect(server.hits.slice(1).map((hit) => hit.headers['idempotency-key'])).toEqual(['charge-42', 'charge-42', 'charge-42']);
    // The malformed headers were ignored: the 503s are bare refusals, which the client learns from.
    expect(client.stats()).toMatchObject({ retried: 2, learnedRate: { windowMs: 1_000 } });
    // A GET is retried without a key; retry: false turns it off for one request.
    await client.get('/x').catch(() => undefined);
    await client.get('/y', { retry: false }).catch(() => undefined);
    expect(server.hits.map((hit) => hit.url).filter((url) => url !== '/charge')).toEqual(['/x', '/x', '/x', '/y']);
    await client.close();
    await server.close();
  });
});

describe('client.fetch listens too', () => {
  it('a 429 with Retry-After through client.fetch cools the whole client down', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/limited') res.writeHead(429, { 'retry-after': '1' }).end();
      else res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new RateLimitedClient();
    const events: RateLimitedEvent[] = [];
    client.on('rate-limited', (event) => events.push(event));
    expect((await client.fetch(`${url}/limited`)).status).toBe(429);
    expect(events).toEqual([expect.objectContaining({ reason: 'retry-after', waitMs: 1_000, status: 429, url: `${url}/limited` })]);
    expect(client.stats().cooldownUntil).toBeGreaterThan(Date.now() + 500);
    const started = performance.now();
    await (await client.fetch(`${url}/ok`)).text();
    // Held until the cooldown ended (~1 s after the 429); a generous lower bound for timer slack.
    expect(performance.now() - started).toBeGreaterThan(900);
    await client.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe("GitHub's refusals and resources", () => {
  /** Answers each path's first request with `first` (status and headers), every later one with 200. */
  async function github(first: Record<string, [number, Record<string, string>]>) {
    const arrivals: Array<{ path: string; at: number; status: number }> = [];
    const server = createServer((req, res) => {
      req.resume();
      const path = req.url ?? '/';
      const refusal = arrivals.some((arrival) => arrival.path === path) ? undefined : first[path];
      const [status, headers] = refusal ?? [200, { 'content-type': 'application/json' }];
      arrivals.push({ path, at: performance.now(), status });
      res.writeHead(status, headers).end(status === 200 ? '{}' : '{"message":"You have exceeded a secondary rate limit."}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const close = async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    };
    return { url, arrivals, close };
  }

  it('a 403 with Retry-After (a secondary limit) cools the client down and is retried after the wait', async () => {
    const api = await github({ '/secondary': [403, { 'retry-after': '0.3' }] });
    const client = new RateLimitedClient({ baseUrl: api.url });
    const events: RateLimitedEvent[] = [];
    client.on('rate-limited', (event) => events.push(event));
    expect((await client.get('/secondary')).status).toBe(200);
    expect(api.arrivals.map((arrival) => arrival.status)).toEqual([403, 200]);
    const [refused, retried] = api.arrivals.map((arrival) => arrival.at);
    // The retry waits out the 300 ms; 10 ms of slack for timers that fire early against performance.now().
    expect((retried ?? 0) - (refused ?? Infinity)).toBeGreaterThan(290);
    expect(events).toEqual([expect.objectContaining({ reason: 'retry-after', waitMs: 300, status: 403 })]);
    await client.close();
    await api.close();
  });

  it('a 403 with X-RateLimit-Remaining: 0 (the primary limit) is retried after the reset', async () => {
    const api = await github({
      '/primary': [403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '0.3', 'x-ratelimit-limit': '60' }],
    });
    const client = new RateLimitedClient({ baseUrl: api.url });
    expect((await client.get('/primary')).status).toBe(200);
    expect(api.arrivals.map((arrival) => arrival.status)).toEqual([403, 200]);
    const [refused, retried] = api.arrivals.map((arrival) => arrival.at);
    expect((retried ?? 0) - (refused ?? Infinity)).toBeGreaterThan(290);
    await client.close();
    await api.close();
  });

  it('a 403 that took the last unit of quota but is not about the rate limit is not retried', async () => {
    const server = createServer((req, res) => {
      req.resume();
      res
        .writeHead(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '0.3' })
        .end('{"message":"Resource not accessible by integration"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    let hits = 0;
    server.on('request', () => hits++);
    const client = new RateLimitedClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    await expect(client.get('/forbidden')).rejects.toMatchObject({ status: 403, retryAfterMs: undefined });
    expect(hits).toBe(1);
    await client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("a request refused for another resource's quota still waits for that quota's reset before its retry", async () => {
    const search = { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '0.3', 'x-ratelimit-resource': 'search' };
    const api = await github({ '/search/issues': [429, search] });
    // A backoff of at most 20 ms: only the reset can make the retry wait 300 ms.
    const client = new RateLimitedClient({ baseUrl: api.url, retry: { minDelayMs: 10, maxDelayMs: 20 } });
    expect((await client.get('/search/issues')).status).toBe(200);
    const [refused, retried] = api.arrivals.map((arrival) => arrival.at);
    expect((retried ?? 0) - (refused ?? Infinity)).toBeGreaterThan(290);
    // The client's own pace is the REST quota's: the search answer did not cool it down.
    expect(client.stats().cooldownUntil).toBeNull();
    await client.close();
    await api.close();
  });

  it('a 403 with neither is an ordinary refusal: not retried', async () => {
    const api = await github({ '/forbidden': [403, {}] });
    const client = new RateLimitedClient({ baseUrl: api.url });
    await expect(client.get('/forbidden')).rejects.toMatchObject({ status: 403 });
    expect(api.arrivals).toHaveLength(1);
    expect(client.stats().cooldownUntil).toBeNull();
    await client.close();
    await api.close();
  });

  it("a search answer's quota changes neither the windows nor the pace of a client for the REST API", async () => {
    // Every answer is about the search quota (30 a minute), used up for the next 50 s.
    const search = {
      'x-ratelimit-limit': '30',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 50),
      'x-ratelimit-resource': 'search',
    };
    const server = createServer((req, res) => res.writeHead(200, search).end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const windows = [
      { limit: 5_000, windowMs: 3_600_000 },
      { limit: 900, windowMs: 60_000 },
    ];
    const core = new RateLimitedClient({ baseUrl: url, rateLimit: windows });
    await core.get('/search/issues');
    expect(core.stats().windows.map(({ limit, windowMs }) => ({ limit, windowMs }))).toEqual(windows);
    expect(core.stats().cooldownUntil).toBeNull();
    // A client made for searches takes them in: nothing more until the reset.
    const searches = new RateLimitedClient({ baseUrl: url, rateLimit: windows, adaptive: { resource: 'search' } });
    await searches.get('/search/issues');
    expect(searches.stats().cooldownUntil).toBeGreaterThan(Date.now() + 40_000);
    await core.close();
    await searches.close({ drain: false });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe("Shopify's leaky bucket (X-Shopify-Shop-Api-Call-Limit)", () => {
  it('a full bucket of 40 leaking 2 a second: the next requests go out one per 500 ms, not after the 20 s it takes to empty', async () => {
    const arrivals: number[] = [];
    const server = createServer((_req, res) => {
      arrivals.push(performance.now());
      // shopify.dev/docs/api/usage/limits: `used/size`; a full bucket on every answer.
      res.writeHead(200, { 'x-shopify-shop-api-call-limit': '40/40' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new RateLimitedClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, concurrency: 1 });
    await client.get('/first');
    await Promise.all([client.get('/second'), client.get('/third')]);
    const gaps = arrivals.slice(1).map((at, i) => at - (arrivals[i] as number));
    // Each waits for one unit to leak (500 ms); generous above for a loaded machine, far below 20 s.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThan(450);
      expect(gap).toBeLessThan(2_000);
    }
    expect(client.stats().cooldownUntil).toBeNull();
    await client.close();
    await new Promise((resolve) => server.close(resolve));
  });
});
