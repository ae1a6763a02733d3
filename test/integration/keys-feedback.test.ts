// Feedback per key, on real sockets: what a server answers to one tenant's request (a Retry-After, a
// used-up budget, a bare 429) holds that tenant's later requests, not the other tenants' nor the client's.
// Each entry point passes the key: request(), client.fetch's init.rateLimit and the undici interceptor.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RateLimitedClient, type RateLimitedEvent, rateLimit } from '../../src/index.js';

/** How each tenant's next answer goes, by the path's first segment (`/a/...`): a status and its headers. */
let next = new Map<string, { status: number; headers: Record<string, string> }>();
let arrivals: Array<{ tenant: string; at: number }> = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const tenant = (req.url ?? '/').split('/')[1] ?? '';
    arrivals.push({ tenant, at: performance.now() });
    const answer = next.get(tenant);
    next.delete(tenant);
    res.writeHead(answer?.status ?? 200, { 'content-type': 'text/plain', ...answer?.headers });
    res.end(answer === undefined ? 'ok' : 'refused');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  next = new Map();
  arrivals = [];
});

const arrivedAt = (tenant: string) => arrivals.filter((arrival) => arrival.tenant === tenant).map((arrival) => arrival.at);

describe('feedback per key over HTTP', () => {
  it("a 429 with Retry-After: 1 on tenant a's request holds a's requests only", async () => {
    const client = new RateLimitedClient({ baseUrl: base, retry: false });
    const events: RateLimitedEvent[] = [];
    client.on('rate-limited', (event) => events.push(event));
    next.set('a', { status: 429, headers: { 'retry-after': '1' } });
    await expect(client.get('/a/first', { key: 'a' })).rejects.toMatchObject({ status: 429 });
    const refusedAt = performance.now();
    expect(client.stats({ key: 'a' }).cooldownUntil).not.toBeNull();
    expect(client.stats({ key: 'b' }).cooldownUntil).toBeNull();
    expect(client.stats().cooldownUntil).toBeNull();
    expect(events).toEqual([expect.objectContaining({ reason: 'retry-after', key: 'a', waitMs: 1_000 })]);
    await Promise.all([client.get('/a/second', { key: 'a' }), client.get('/b/first', { key: 'b' }), client.get('/none/first')]);
    // b's and the keyless request went out at once; a's waited out its second. Generous bounds: the
    // machine is shared (a's bound is the Retry-After itself less a timer's early millisecond).
    expect((arrivedAt('b')[0] as number) - refusedAt).toBeLessThan(500);
    expect((arrivedAt('none')[0] as number) - refusedAt).toBeLessThan(500);
    expect((arrivedAt('a')[1] as number) - refusedAt).toBeGreaterThanOrEqual(950);
    await client.close();
  });

  it("a used-up budget (X-RateLimit-Remaining: 0) on tenant a's response holds a's requests until its reset", async () => {
    const client = new RateLimitedClient({ baseUrl: base, retry: false, adaptive: { resetMode: 'delta-seconds' } });
    next.set('a', { status: 200, headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' } });
    await client.get('/a/first', { key: 'a' });
    const heardAt = performance.now();
    await Promise.all([client.get('/a/second', { key: 'a' }), client.get('/b/first', { key: 'b' })]);
    expect((arrivedAt('b')[0] as number) - heardAt).toBeLessThan(500);
    expect((arrivedAt('a')[1] as number) - heardAt).toBeGreaterThanOrEqual(900);
    await client.close();
  });

  it("a bare 429 on tenant a's request teaches a pace for a, not for the client", async () => {
    const client = new RateLimitedClient({ baseUrl: base, retry: { retries: 3 } });
    next.set('a', { status: 429, headers: {} });
    await client.get('/a/first', { key: 'a' });
    expect(client.stats({ key: 'a' }).learnedRate).toBeDefined();
    expect(client.stats().learnedRate).toBeUndefined();
    await client.get('/b/first', { key: 'b' });
    expect(client.stats({ key: 'b' }).learnedRate).toBeUndefined();
    await client.close();
  });

  it("a RateLimit-Policy on tenant a's response tightens a's windows, not the client's", async () => {
    const client = new RateLimitedClient({
      baseUrl: base,
      rateLimit: { limit: 100, windowMs: 1_000 },
      perKey: { rateLimit: { limit: 10, windowMs: 1_000 } },
    });
    const events: RateLimitedEvent[] = [];
    client.on('rate-limited', (event) => events.push(event));
    next.set('a', { status: 200, headers: { 'ratelimit-policy': '2;w=1' } });
    await client.get('/a/first', { key: 'a' });
    expect(client.stats({ key: 'a' }).windows).toEqual([expect.objectContaining({ limit: 2, windowMs: 1_000 })]);
    expect(client.stats({ key: 'b' }).windows).toEqual([]);
    expect(client.stats().windows).toEqual([expect.objectContaining({ limit: 100, windowMs: 1_000 })]);
    expect(events).toEqual([expect.objectContaining({ reason: 'policy', key: 'a' })]);
    await client.close();
  });

  it('client.fetch and the interceptor pass the key: the key counts the requests, and its window holds them', async () => {
    const client = new RateLimitedClient({ perKey: { rateLimit: { limit: 1, windowMs: 60_000 } } });
    const response = await client.fetch(`${base}/a/fetch`, { rateLimit: { key: 'a' } });
    expect(await response.text()).toBe('ok');
    expect(client.stats({ key: 'a' })).toMatchObject({ submitted: 1, completed: 1 });
    expect(client.stats({ key: 'a' }).windows).toEqual([{ limit: 1, windowMs: 60_000, counts: 'requests', used: 1 }]);
    await expect(client.fetch(`${base}/a/again`, { rateLimit: { key: 'a', maxWaitMs: 100 } })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    await expect(client.fetch(`${base}/a/bad`, { rateLimit: { key: '' } })).rejects.toThrow('Expected `key` to be a non-empty string');

    const agent = new Agent().compose(rateLimit(client, { key: (opts) => (opts.path.startsWith('/b/') ? 'b' : undefined) }));
    const answer = await undiciRequest(`${base}/b/intercepted`, { dispatcher: agent });
    expect(await answer.body.text()).toBe('ok');
    expect(client.stats({ key: 'b' })).toMatchObject({ submitted: 1, completed: 1 });
    expect(() => rateLimit(client, { key: '' })).toThrow('Expected `key` to be a non-empty string');
    await agent.close();
    await client.close();
  });
});
