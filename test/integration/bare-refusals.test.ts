// Servers that say nothing, on real sockets: a server that refuses with a bare 429 (no Retry-After, no
// rate-limit headers), as nginx's limit_req does, admitting one request every 50 ms (20 a second).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedClient, type RateLimitedEvent } from '../../src/index.js';

const SPACING_MS = 50;
let server: Server;
let base: string;
let arrivals: Array<{ at: number; status: number }> = [];
let last = -Infinity;

beforeAll(async () => {
  server = createServer((req, res) => {
    const now = performance.now();
    // A leaky bucket with no burst, as `limit_req rate=20r/s` (nginx counts in whole milliseconds and
    // does not count the requests it refuses).
    const ok = now - last >= SPACING_MS - 1;
    if (ok) last = now;
    arrivals.push({ at: now, status: ok ? 200 : 429 });
    res.writeHead(ok ? 200 : 429, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok' : 'refused');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('a server that refuses with a bare 429', () => {
  it("with no rateLimit: none lost, few refusals, the learned rate near the server's", async () => {
    arrivals = [];
    last = -Infinity;
    const client = new RateLimitedClient({ baseUrl: base, concurrency: 4, retry: { retries: 10 } });
    const events: RateLimitedEvent[] = [];
    client.on('rate-limited', (event) => events.push(event));
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => client.get('/')));
    const lost = results.filter((result) => result.status === 'rejected').length;
    const refusals = arrivals.filter((arrival) => arrival.status === 429).length;
    const served = arrivals.filter((arrival) => arrival.status === 200);
    const span = (served.at(-1)?.at ?? 0) - (served[0]?.at ?? 0);
    const utilisation = ((served.length - 1) * SPACING_MS) / span;
    console.log(
      `[bare 429s] refusals ${refusals}, lost ${lost}, utilisation ${utilisation.toFixed(2)}, learned`,
      client.stats().learnedRate,
    );
    expect(lost).toBe(0);
    // The first 4 go out at once (3 refused); then the client learns. Generous for a loaded machine.
    expect(refusals).toBeLessThanOrEqual(12);
    expect(events[0]).toMatchObject({ reason: 'refused', waitMs: 100, status: 429, sources: [] });
    const learned = client.stats().learnedRate;
    expect(learned?.windowMs).toBe(1_000);
    expect(learned?.limit).toBeGreaterThan(5);
    expect(learned?.limit).toBeLessThanOrEqual(24);
    // A loose floor: at 2 cores with other suites running, timers slip; quiet, this is about 0.8.
    expect(utilisation).toBeGreaterThan(0.4);
    await client.close();
  });

  it('adaptive: false learns nothing', async () => {
    arrivals = [];
    last = -Infinity;
    const client = new RateLimitedClient({ baseUrl: base, concurrency: 2, adaptive: false, retry: false });
    await Promise.allSettled(Array.from({ length: 4 }, () => client.get('/')));
    expect(client.stats().learnedRate).toBeUndefined();
    expect(client.stats().cooldownUntil).toBeNull();
    await client.close();
  });
});
