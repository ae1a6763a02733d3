// Bugs found in review of retries and server feedback, each kept as a test of what was wrong.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpError, RateLimitedClient } from '../../src/index.js';

async function serve(handler: (req: IncomingMessage, res: ServerResponse, hit: number) => void) {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(performance.now());
    handler(req, res, arrivals.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('retry and feedback regressions', () => {
  it('close() waits for a request whose retry is waiting out its delay, and the retry gets its answer', async () => {
    const server = await serve((_req, res, hit) => (hit === 1 ? res.writeHead(503).end() : res.end('ok')));
    const client = new RateLimitedClient({ baseUrl: server.url, retry: { minDelayMs: 300, maxDelayMs: 300, jitter: 'none' } });
    const retried = new Promise((resolve) => client.on('retry', resolve));
    const request = client.get('/x');
    await retried;
    await client.close();
    expect(await (await request).text()).toBe('ok');
    expect(client.stats()).toMatchObject({ retried: 1, completed: 1, inFlight: 0 });
    await server.close();
  });

  it('close({ drain: false }) ends a retry delay at once with ClientClosedError', async () => {
    const server = await serve((_req, res) => res.writeHead(503).end());
    const client = new RateLimitedClient({ baseUrl: server.url, retry: { minDelayMs: 5_000, maxDelayMs: 5_000, jitter: 'none' } });
    const retried = new Promise((resolve) => client.on('retry', resolve));
    const request = client.get('/x').catch((e: unknown) => e);
    await retried;
    const started = performance.now();
    await client.close({ drain: false });
    expect(await request).toMatchObject({ name: 'ClientClosedError' });
    expect(performance.now() - started).toBeLessThan(1_000);
    await server.close();
  });

  it("the server's remaining already counts the request that reported it", async () => {
    let served = 0;
    const server = await serve((_req, res) => {
      served++;
      res.writeHead(200, { 'x-ratelimit-remaining': String(3 - served), 'x-ratelimit-reset': '3' }).end('ok');
    });
    const client = new RateLimitedClient({ baseUrl: server.url, concurrency: 1 });
    const started = performance.now();
    await Promise.all([1, 2, 3].map((n) => client.get(`/${n}`)));
    // All three fit the server's quota of 3: none waits for the reset 3 s later.
    expect(performance.now() - started).toBeLessThan(1_500);
    await client.close();
    await server.close();
  });

  it('a server wait longer than maxRetryAfterMs fails the request at once and cools the client no longer than that', async () => {
    const server = await serve((_req, res) => res.writeHead(429, { 'retry-after': '86400' }).end());
    const client = new RateLimitedClient({ baseUrl: server.url, retry: { maxRetryAfterMs: 2_000 } });
    const error = (await client.get('/x').catch((e: unknown) => e)) as HttpError;
    expect(error).toBeInstanceOf(HttpError);
    expect(error.retryAfterMs).toBe(86_400_000);
    const cooldownUntil = client.stats().cooldownUntil ?? 0;
    expect(cooldownUntil - Date.now()).toBeGreaterThan(1_000);
    expect(cooldownUntil - Date.now()).toBeLessThanOrEqual(2_000);
    await client.close({ drain: false });
    await server.close();
  });

  it('an error body that stalls is cut off, so the retry follows the 503 promptly', async () => {
    const server = await serve((_req, res, hit) => {
      if (hit > 1) return void res.end('ok');
      res.writeHead(503, { 'retry-after-ms': '10' });
      res.write('stall'); // and never ends
    });
    const client = new RateLimitedClient({ baseUrl: server.url, timeoutMs: 10_000 });
    const started = performance.now();
    expect(await (await client.get('/x')).text()).toBe('ok');
    // Cut off after about 1 s, not after the 10 s attempt timeout.
    expect(performance.now() - started).toBeLessThan(3_000);
    await client.close();
    await server.close();
  });
});
