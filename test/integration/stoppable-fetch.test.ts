import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawHeaders } from '../../src/http/raw-headers.js';
import { StoppableFetch } from '../../src/http/stoppable-fetch.js';

describe('StoppableFetch: fetch on a dispatcher of its own', () => {
  let server: Server;
  let url: string;
  const agent = new Agent({ keepAliveTimeout: 1_000 });

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, { 'X-RateLimit-Remaining': '3', 'content-type': 'application/json' });
      response.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('reads the headers of a response it dispatched from its raw lines, the same as the Response has', async () => {
    const fetching = new StoppableFetch(agent);
    const response = await fetching.fetch(`${url}/`, {});
    expect(fetching.dispatched).toBe(true);
    const headers = fetching.headersOf(response);
    expect(headers).toBeInstanceOf(RawHeaders);
    expect(headers.get('x-ratelimit-remaining')).toBe('3');
    expect([...headers.keys()].sort()).toEqual([...response.headers.keys()]);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('reads a patched fetch’s answer from its Headers', async () => {
    const answer = new Response('hi', { headers: { 'retry-after': '1' } });
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(answer);
    const fetching = new StoppableFetch(agent);
    const response = await fetching.fetch(`${url}/`, {});
    expect(fetching.dispatched).toBe(false);
    expect(fetching.headersOf(response)).toBe(answer.headers);
  });

  it('rejects with the stop’s reason at once, and a stopped fetch never starts', async () => {
    const reason = new Error('stopped');
    const fetching = new StoppableFetch(agent);
    const pending = fetching.fetch(`${url}/`, {});
    fetching.onStop(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(fetching.fetch(`${url}/`, {})).rejects.toBe(reason);
  });
});
