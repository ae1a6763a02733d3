// Bugs found in review of the HTTP layer, each kept as a test of the behaviour that was wrong.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, RateLimitedClient } from '../../src/index.js';

interface Origin {
  url: string;
  hits: Array<{ path: string; headers: IncomingMessage['headers'] }>;
  server: Server;
}

async function origin(handler: (req: IncomingMessage, res: ServerResponse, self: Origin) => void): Promise<Origin> {
  const self = { hits: [] } as unknown as Origin;
  self.server = createServer((req, res) => {
    self.hits.push({ path: req.url ?? '', headers: req.headers });
    handler(req, res, self);
  });
  await new Promise<void>((resolve) => self.server.listen(0, '127.0.0.1', resolve));
  self.url = `http://127.0.0.1:${(self.server.address() as AddressInfo).port}`;
  return self;
}

let other: Origin;
let main: Origin;

beforeAll(async () => {
  other = await origin((_req, res) => res.end('elsewhere'));
  main = await origin((req, res) => {
    if (req.url === '/hop') return void res.writeHead(302, { location: '/landing' }).end();
    if (req.url === '/away') return void res.writeHead(302, { location: `${other.url}/landing` }).end();
    if (req.url === '/quiet') {
      res.writeHead(200);
      return void res.write('data: 1\n\n'); // then nothing, ever
    }
    res.setHeader('set-cookie', 'session=TOPSECRETCOOKIE');
    if (req.url === '/teapot') res.statusCode = 418;
    res.end('hello');
  });
});

afterAll(async () => {
  for (const o of [main, other]) {
    o.server.closeAllConnections();
    await new Promise((resolve) => o.server.close(resolve));
  }
});

for (const transport of ['fetch', 'undici'] as const) {
  describe(`regressions through the '${transport}' transport`, () => {
    it('arrayBuffer() holds exactly the body, not the shared buffer under it', async () => {
      const client = new RateLimitedClient({ baseUrl: main.url, transport });
      for (const stream of [false, true]) {
        const buffer = await (await client.get('/hello', { stream })).arrayBuffer();
        expect(buffer.byteLength).toBe(5);
        expect(Buffer.from(buffer).toString()).toBe('hello');
      }
      await client.close();
    });

    it('cancelling a streamed body while a read waits aborts the request and frees its slot', async () => {
      const client = new RateLimitedClient({ baseUrl: main.url, transport });
      const response = await client.get('/quiet', { stream: true });
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        expect(Buffer.from(chunk).toString()).toBe('data: 1\n\n');
        break; // cancels the stream while the server stays quiet
      }
      await client.onIdle();
      expect(client.stats().inFlight).toBe(0);
      await client.close();
    });

    it('follows a same-origin redirect as a second request through the limiter', async () => {
      const client = new RateLimitedClient({ baseUrl: main.url, transport, rateLimit: { limit: 10, windowMs: 60_000 } });
      const before = main.hits.length;
      const response = await client.get('/hop');
      expect(await response.text()).toBe('hello');
      expect(response.url).toBe(`${main.url}/landing`);
      expect(main.hits.length - before).toBe(2);
      expect(client.stats().windows[0]?.used).toBe(2);
      await client.close();
    });

    it('does not follow a redirect out of baseUrl, and drops every secret header when allowed to', async () => {
      const headers = { authorization: 'Bearer T', 'x-api-key': 'K', 'x-mine': 'M', 'x-plain': 'P' };
      const client = new RateLimitedClient({ baseUrl: main.url, transport, headers, secretHeaders: ['x-mine'] });
      const error = await client.get('/away').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 302 });
      expect(other.hits).toHaveLength(0);
      await client.close();

      const open = new RateLimitedClient({ baseUrl: main.url, transport, headers, secretHeaders: ['x-mine'], allowAbsoluteUrls: true });
      expect(await (await open.get('/away')).text()).toBe('elsewhere');
      const seen = other.hits.at(-1)?.headers ?? {};
      expect(seen['x-plain']).toBe('P');
      expect([seen.authorization, seen['x-api-key'], seen['x-mine']]).toEqual([undefined, undefined, undefined]);
      other.hits.length = 0;
      await open.close();
    });

    it("an HttpError's response carries the redacted headers too", async () => {
      const client = new RateLimitedClient({ baseUrl: main.url, transport });
      const error = (await client.get('/teapot').catch((e: unknown) => e)) as HttpError;
      expect(error.response.headers.get('set-cookie')).toBe('[REDACTED]');
      await client.close();
    });

    it('close() settles even with a client.fetch body nobody read', async () => {
      const client = new RateLimitedClient({ transport });
      const response = await client.fetch(`${main.url}/quiet`);
      expect(response.status).toBe(200);
      await client.close();
    });
  });
}

it('refuses credentials in baseUrl or a path without showing them', () => {
  expect(() => new RateLimitedClient({ baseUrl: 'http://alice:S3CRET@127.0.0.1:1/' })).toThrow(/without user:password/);
  const client = new RateLimitedClient();
  return expect(client.get('http://alice:S3CRET@127.0.0.1:1/')).rejects.toThrow(/^(?!.*S3CRET).*without user:password/);
});
