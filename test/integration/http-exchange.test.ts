// The transports' own handling of a response: undici's dispatch handler and fetch without a signal.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedClient } from '../../src/index.js';

const CHUNK = Buffer.alloc(64 * 1024, 'x');
const BIG = 64 * 1024 * 1024;

let server: Server;
let base: string;
/** The response of the last `/big` request: the test watches its writes. */
let big: { response: ServerResponse; blocked: Promise<void>; written: () => number } | undefined;
/** Sockets the server saw close, by the path of the request they carried first. */
const closed = new Map<string, Promise<void>>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const socket: Socket = req.socket;
    closed.set(req.url ?? '', new Promise((resolve) => socket.once('close', () => resolve())));
    if (req.url === '/big') {
      let written = 0;
      let onBlocked = (): void => {};
      const blocked = new Promise<void>((resolve) => (onBlocked = resolve));
      big = { response: res, blocked, written: () => written };
      res.writeHead(200, { 'content-length': String(BIG) });
      const pump = (): void => {
        while (written < BIG) {
          written += CHUNK.byteLength;
          if (!res.write(CHUNK)) {
            onBlocked();
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      return pump();
    }
    if (req.url === '/endless-redirect') {
      res.writeHead(302, { location: '/landing' });
      res.write('the body of a redirect that never ends');
      return; // and never ends
    }
    if (req.url === '/hinted') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-twice': ['a', 'b'] });
      return void res.end('after the hints');
    }
    if (req.url === '/chunked') {
      res.writeHead(200);
      let left = 50;
      const next = (): void => {
        if (left-- === 0) return void res.end();
        res.write(`${left},`);
        setImmediate(next);
      };
      return next();
    }
    res.end('landed');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

for (const transport of ['undici', 'fetch'] as const) {
  describe(`the '${transport}' transport's exchange`, () => {
    it('a streamed body nobody reads holds the server back instead of filling memory', async () => {
      const client = new RateLimitedClient({ baseUrl: base, transport });
      const response = await client.get('/big', { stream: true });
      const reader = response.body.getReader();
      await reader.read();
      const watched = big;
      if (watched === undefined) throw new Error('the server saw no /big request');
      await watched.blocked;
      // Unread, the body must stay in the socket and the server held back: what it wrote is what the
      // client took before it paused (64 KiB) and what the kernel's buffers hold, far from all of it.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(watched.written()).toBeLessThan(BIG / 4);
      let length = 0;
      for (let next = await reader.read(); !next.done; next = await reader.read()) length += next.value.byteLength;
      expect(length + CHUNK.byteLength).toBeGreaterThanOrEqual(BIG - CHUNK.byteLength);
      await client.close();
    });

    it("a redirect's body is dropped with its connection, not waited for", async () => {
      const client = new RateLimitedClient({ baseUrl: base, transport, timeoutMs: 5_000 });
      const response = await client.get('/endless-redirect');
      expect(await response.text()).toBe('landed');
      await closed.get('/endless-redirect');
      await client.close();
    });

    it('skips 1xx answers, and gives the final headers as the server sent them', async () => {
      const client = new RateLimitedClient({ baseUrl: base, transport });
      const response = await client.get('/hinted');
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('after the hints');
      expect(response.headers.get('x-twice')).toBe('a, b');
      expect(response.headers.get('content-type')).toBe('text/plain');
      await client.close();
    });

    it('joins a body that comes in many chunks, buffered or streamed', async () => {
      const client = new RateLimitedClient({ baseUrl: base, transport });
      const expected = Array.from({ length: 50 }, (_, i) => `${49 - i},`).join('');
      expect(await (await client.get('/chunked')).text()).toBe(expected);
      expect(await (await client.get('/chunked', { stream: true })).text()).toBe(expected);
      await client.close();
    });
  });
}
