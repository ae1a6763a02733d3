import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DIAGNOSTICS_CHANNELS, RateLimitedClient, type RateLimitedMessage, type RetryMessage } from '../../src/index.js';
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
      expect(JSON.stringify(seen.map(([, message]) => ({ ...(message as RetryMessage), client: undefined })))).not.toContain('secret-token');
    } finally {
      stop();
      await client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
