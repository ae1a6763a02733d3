import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockApi } from '../../examples/support/mock-api.js';
import { HttpError, NetworkError, RateLimitedClient, TimeoutError } from '../../src/index.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A real server on 127.0.0.1 with a few routes that misbehave on purpose. */
const routes: Record<string, Handler> = {
  '/echo': (req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-trace': 'abc' });
    res.end(JSON.stringify({ method: req.method, url: req.url, body, headers: req.headers }));
  },
  '/missing': (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain', 'set-cookie': 'session=SERVER-SECRET' });
    res.end('not here; '.repeat(10_000)); // ~100 KB: the preview must stay bounded
  },
  '/hang': () => {}, // never answers
  '/stall-body': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial'); // headers and a little body, then nothing
  },
  '/reset': (req) => {
    req.socket.destroy();
  },
  '/slow-body': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first ');
    setTimeout(() => res.end('second'), 100);
  },
};

let server: Server;
let base: string;
let closedPort: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => (routes[new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/v1/, '')] ?? routes['/echo']!)(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port that was free a moment ago: connections to it are refused.
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const TOKEN = 'Bearer TOP-SECRET-TOKEN-123';

for (const transport of ['fetch', 'undici'] as const) {
  describe(`HTTP through the '${transport}' transport`, () => {
    const client = () =>
      new RateLimitedClient({
        baseUrl: `${base}/v1`,
        headers: { authorization: TOKEN, 'x-api-key': 'KEY-SECRET', 'x-custom-secret': 'CUSTOM-SECRET' },
        secretHeaders: ['X-Custom-Secret'],
        transport,
      });

    it('round-trips JSON, joins baseUrl, encodes the query and merges headers', async () => {
      const c = client();
      const response = await c.post('/echo', {
        json: { hello: 'wörld' },
        query: { page: 2, tags: ['a', 'b c'], skip: undefined },
        headers: { 'X-Request': 'yes', 'x-api-key': undefined },
      });
      expect(response.status).toBe(200);
      expect(response.ok).toBe(true);
      expect(response.headers.get('x-trace')).toBe('abc');
      const echoed = await response.json<{ method: string; url: string; body: string; headers: Record<string, string> }>();
      expect(echoed.method).toBe('POST');
      expect(echoed.url).toBe('/v1/echo?page=2&tags=a&tags=b+c');
      expect(JSON.parse(echoed.body)).toEqual({ hello: 'wörld' });
      expect(echoed.headers['content-type']).toBe('application/json');
      expect(echoed.headers.authorization).toBe(TOKEN);
      expect(echoed.headers['x-request']).toBe('yes');
      expect(echoed.headers['x-api-key']).toBeUndefined();
      expect(await response.text()).toContain('"method":"POST"');
      await c.close();
    });

    it('rejects a non-2xx answer with HttpError: status, method, url, headers, a bounded preview, no secrets', async () => {
      const c = client();
      const error = (await c.get('/missing').catch((e: unknown) => e)) as HttpError;
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 404, method: 'GET', url: `${base}/v1/missing`, code: 'RLC_ERR_HTTP' });
      expect(error.message).toBe(`Request failed with status code 404 Not Found: GET ${base}/v1/missing`);
      expect(error.bodyPreview.length).toBe(4096);
      expect(error.headers['set-cookie']).toBe('[REDACTED]');
      for (const shown of [error.message, inspect(error, { depth: 5 }), JSON.stringify(error), String(error.stack)]) {
        for (const secret of ['TOP-SECRET-TOKEN', 'KEY-SECRET', 'CUSTOM-SECRET', 'SERVER-SECRET']) expect(shown).not.toContain(secret);
      }
      const resolved = await c.get('/missing', { throwHttpErrors: false });
      expect(resolved.status).toBe(404);
      expect(resolved.ok).toBe(false);
      await c.close();
    });

    it('refuses a path that leaves baseUrl before any connection', async () => {
      const c = client();
      for (const path of [
        '//evil.example/x',
        'http://evil.example/x',
        'https:evil.example',
        '/../other',
        '/%2e%2e/other',
        '\\\\evil.example/x',
      ]) {
        await expect(c.get(path), path).rejects.toThrow(TypeError);
      }
      expect(c.stats().submitted).toBe(0);
      await c.close();
    });

    it('times out an attempt on a server that never answers, and one that stalls the body', async () => {
      const c = client();
      for (const path of ['/hang', '/stall-body']) {
        const error = await c.get(path, { timeoutMs: 150, retry: false }).catch((e: unknown) => e);
        expect(error, path).toBeInstanceOf(TimeoutError);
        expect(error).toMatchObject({ phase: 'run', timeoutMs: 150 });
      }
      await c.onIdle();
      expect(c.stats()).toMatchObject({ inFlight: 0, failed: 2 });
      await c.close();
    });

    it('rejects with NetworkError (with the cause) when the socket is reset or the port refuses', async () => {
      // Retried as usual (a GET), after short delays: the default ones add 2-3 s and test nothing here.
      const retry = { minDelayMs: 10, maxDelayMs: 20 };
      const c = client();
      const reset = await c.get('/reset', { retry }).catch((e: unknown) => e);
      expect(reset).toBeInstanceOf(NetworkError);
      expect((reset as NetworkError).cause).toBeDefined();
      const refused = new RateLimitedClient({ baseUrl: `http://127.0.0.1:${closedPort}`, transport, retry });
      const error = (await refused.get('/x').catch((e: unknown) => e)) as NetworkError;
      expect(error).toBeInstanceOf(NetworkError);
      expect(error.causeCode).toBe('ECONNREFUSED');
      expect(error.message).toBe(`Request failed without a response (ECONNREFUSED): GET http://127.0.0.1:${closedPort}/x`);
      await Promise.all([c.close(), refused.close()]);
    });

    it('aborts a queued request at once with the signal reason', async () => {
      // The slow request holds the only slot; short retry delays keep its three attempts under a second.
      const c = new RateLimitedClient({ baseUrl: base, transport, concurrency: 1, retry: { minDelayMs: 10, maxDelayMs: 20 } });
      const slow = c.get('/hang', { timeoutMs: 200 }).catch(() => 'timed out');
      const controller = new AbortController();
      const queued = c.get('/echo', { signal: controller.signal });
      controller.abort(new Error('user gave up'));
      await expect(queued).rejects.toThrow('user gave up');
      expect(await slow).toBe('timed out');
      await c.close();
    });

    it('streams a body with stream: true, holding the slot until the body is read or cancelled', async () => {
      const c = client();
      const response = await c.get('/slow-body', { stream: true });
      // Resolved at the headers, before the body's second half was even sent.
      expect(response.status).toBe(200);
      expect(c.stats().inFlight).toBe(1);
      expect(await response.text()).toBe('first second');
      await c.onIdle();
      expect(c.stats()).toMatchObject({ inFlight: 0, completed: 1 });

      const cancelled = await c.get('/slow-body', { stream: true });
      await cancelled.body.cancel();
      await c.onIdle();
      expect(c.stats()).toMatchObject({ inFlight: 0, completed: 2 });

      // Nobody reads it: the attempt's timeout cuts it off and frees the slot.
      const unread = await c.get('/stall-body', { stream: true, timeoutMs: 150 });
      await c.onIdle();
      expect(c.stats()).toMatchObject({ inFlight: 0, failed: 1 });
      await expect(unread.text()).rejects.toBeDefined();
      await c.close();
    });

    it('keeps a quota of 20 per 200 ms as the server counts arrivals: 200 GETs at concurrency 10', async () => {
      const api = await startMockApi({ limit: 20, windowMs: 200 });
      const c = new RateLimitedClient({ baseUrl: api.url, transport, concurrency: 10, rateLimit: { limit: 20, windowMs: 200 } });
      const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => c.get(`/item/${i}`)));
      expect(responses.every((r) => r.status === 200)).toBe(true);
      expect(api.statuses().filter((s) => s === 429)).toHaveLength(0);
      expect(api.maxInAnyWindow(200)).toBeLessThanOrEqual(20);
      await c.close();
      await api.close();
    });
  });
}

describe('client.fetch', () => {
  it('takes a string, a URL or a Request and returns a standard Response', async () => {
    const c = new RateLimitedClient({ rateLimit: { limit: 10, windowMs: 100 } });
    const fromString = await c.fetch(`${base}/echo?via=string`);
    const fromUrl = await c.fetch(new URL(`${base}/echo?via=url`), { method: 'POST', body: 'hi' });
    const fromRequest = await c.fetch(new Request(`${base}/echo?via=request`, { headers: { 'x-from': 'request' } }), {
      rateLimit: { priority: -1 },
    });
    expect(fromString).toBeInstanceOf(Response);
    expect(((await fromString.json()) as { url: string }).url).toBe('/echo?via=string');
    expect(await fromUrl.json()).toMatchObject({ method: 'POST', body: 'hi' });
    expect(await fromRequest.json()).toMatchObject({ headers: { 'x-from': 'request' } });
    expect(c.stats().completed).toBe(3);
    await expect(c.fetch(42 as never)).rejects.toThrow(TypeError);
    await c.close();
  });

  it('keeps a quota of 20 per 200 ms as the server counts arrivals', async () => {
    const api = await startMockApi({ limit: 20, windowMs: 200 });
    const c = new RateLimitedClient({ concurrency: 10, rateLimit: { limit: 20, windowMs: 200 } });
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => c.fetch(`${api.url}/item/${i}`).then((r) => r.text())));
    expect(responses).toHaveLength(200);
    expect(api.statuses().filter((s) => s === 429)).toHaveLength(0);
    expect(api.maxInAnyWindow(200)).toBeLessThanOrEqual(20);
    await c.close();
    await api.close();
  });

  it('rejects like fetch when aborted', async () => {
    const c = new RateLimitedClient();
    const reason = new Error('stop');
    await expect(c.fetch(`${base}/hang`, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await c.close();
  });
});
