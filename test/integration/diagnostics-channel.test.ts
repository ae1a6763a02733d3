import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  DIAGNOSTICS_CHANNELS,
  RateLimitedClient,
  type RateLimitedMessage,
  type RefusalMessage,
  type RetryMessage,
  rateLimit,
} from '../../src/index.js';
import { recordChannels } from '../support/diagnostics-recorder.js';

describe('node:diagnostics_channel over HTTP', () => {
  it('mirrors retry and rate-limited from real HTTP answers', async () => {
    let calls = 0;
    const server = createServer((req, res) => {
      req.resume();
      calls++;
      if (calls === 1) res.writeHead(429, { 'retry-after-ms': '20' }).end('slow down');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { seen, stop } = recordChannels([DIAGNOSTICS_CHANNELS.retry, DIAGNOSTICS_CHANNELS.rateLimited]);
    const client = new RateLimitedClient({ baseUrl: url, headers: { authorization: 'Bearer secret-token' } });
    try {
      expect((await client.get('/x')).status).toBe(200);
      const retry = seen.find(([name]) => name === DIAGNOSTICS_CHANNELS.retry)?.[1] as RetryMessage;
      const limited = seen.find(([name]) => name === DIAGNOSTICS_CHANNELS.rateLimited)?.[1] as RateLimitedMessage;
      expect(retry.client).toBe(client);
      expect(retry.event).toMatchObject({ retry: 1, method: 'GET', url: `${url}/x` });
      expect(limited).toMatchObject({ client, event: { reason: 'retry-after', status: 429 } });
      expect(JSON.stringify(seen.map(([, message]) => ({ ...(message as RetryMessage), client: undefined })))).not.toContain(
        'secret-token',
      );
    } finally {
      stop();
      await client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('publishes every 429 and 503 heard, through request(), client.fetch and the interceptor, retried or not', async () => {
    // /busy/<n> answers 503 once, then 200; /refuse always 429 (with no Retry-After); anything else 200.
    const seenPaths = new Set<string>();
    const server = createServer((req, res) => {
      req.resume();
      const path = req.url ?? '';
      const first = !seenPaths.has(path);
      seenPaths.add(path);
      if (path === '/refuse') res.writeHead(429).end('no');
      else if (first && path.startsWith('/busy/')) res.writeHead(503).end('busy');
      else res.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { seen, stop } = recordChannels([DIAGNOSTICS_CHANNELS.refusal]);
    const client = new RateLimitedClient({ baseUrl: url, name: 'api', retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 } });
    const agent = new Agent();
    try {
      expect((await client.get('/busy/1')).status).toBe(200);
      expect((await client.get('/refuse', { throwHttpErrors: false })).status).toBe(429);
      expect((await client.fetch(`${url}/busy/2`)).status).toBe(503);
      const dispatcher = agent.compose(rateLimit(client));
      const answer = await request(`${url}/refuse`, { dispatcher });
      await answer.body.dump();
      expect(answer.statusCode).toBe(429);
      expect((await client.get('/ok')).status).toBe(200);
      const messages = seen.map(([, message]) => message as RefusalMessage);
      expect(messages.map((m) => m.status)).toEqual([503, 429, 503, 429]);
      for (const message of messages) expect(message).toMatchObject({ client, name: 'api' });
    } finally {
      stop();
      await client.close();
      await agent.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
