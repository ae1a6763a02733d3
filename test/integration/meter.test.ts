// A client's meter through every HTTP entry point, on real sockets: the estimate before, the budgets and
// the usage (buffered and streamed) after, and what a refusal was for. The meter here is a small one
// written for the test (the plumbing is under test; the providers' meters have their own tests).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, type Meter, RateLimitedClient, rateLimit } from '../../src/index.js';

/** Answers with `used` tokens in a JSON body or an SSE stream; /refused answers 429 for `?type=`. */
function route(req: IncomingMessage, res: ServerResponse, body: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  // No `used`: the body carries no usage, and the estimate stands.
  const used = url.searchParams.has('used') ? Number(url.searchParams.get('used')) : undefined;
  if (url.pathname === '/refused') {
    const type = url.searchParams.get('type') ?? 'tokens';
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ error: { type, code: type === 'insufficient_quota' ? type : 'rate_limit_exceeded' } }));
    return;
  }
  const headers = { 'x-remaining-tokens': url.searchParams.get('remaining') ?? '1000000', 'x-reset-ms': '60000' };
  if (url.pathname === '/stream') {
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' });
    res.write('data: {"text":"hel"}\n\n');
    setTimeout(() => res.end(used === undefined ? '' : `data: {"usage":${used}}\n\n`), 20);
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(used === undefined ? { echo: body.length } : { echo: body.length, usage: used }));
}

/** Estimates `tokens` from the body's `max` field; settles from the last `usage` seen in the body. */
function testMeter(seen: { estimates: number; ends: number }): Meter {
  return {
    estimate(request) {
      seen.estimates++;
      if (request.body === undefined) return undefined;
      return { tokens: (JSON.parse(request.body) as { max: number }).max, ignored: 5 };
    },
    budgets(response) {
      const remaining = Number(response.headers.get('x-remaining-tokens'));
      return [{ counts: 'tokens', remaining, resetMs: Number(response.headers.get('x-reset-ms')) }];
    },
    usage() {
      let text = '';
      return {
        chunk(bytes) {
          text += Buffer.from(bytes).toString();
        },
        end() {
          seen.ends++;
          const found = [...text.matchAll(/"usage":(\d+)/g)].at(-1);
          return found === undefined ? undefined : { tokens: Number(found[1]) };
        },
      };
    },
    refusal(_response, body) {
      const type = (JSON.parse(body) as { error: { type: string } }).error.type;
      if (type === 'insufficient_quota') return { fatal: 'the quota is spent' };
      return { counts: [type] };
    },
  };
}

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => route(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const WINDOWS = [
  { limit: 100, windowMs: 60_000 },
  { limit: 10_000, windowMs: 60_000, counts: 'tokens' },
];
const tokensUsed = (client: RateLimitedClient) => client.stats().windows[1]?.used;

function metered(transport: 'fetch' | 'undici' = 'fetch') {
  const seen = { estimates: 0, ends: 0 };
  const client = new RateLimitedClient({ baseUrl: base, rateLimit: WINDOWS, meter: testMeter(seen), transport, retry: { retries: 1 } });
  return { client, seen };
}

describe.each(['fetch', 'undici'] as const)('request() with a meter (%s transport)', (transport) => {
  it('counts the estimate, then settles from the buffered body', async () => {
    const { client, seen } = metered(transport);
    const response = await client.post('/done?used=120', { json: { max: 900 } });
    expect(await response.json()).toMatchObject({ usage: 120 });
    expect(seen).toEqual({ estimates: 1, ends: 1 });
    expect(tokensUsed(client)).toBe(120);
    await client.close();
  });

  it('settles from a streamed body once it has ended, without holding a chunk back', async () => {
    const { client } = metered(transport);
    const response = await client.post('/stream?used=77', { json: { max: 500 }, stream: true });
    // The first chunk reaches the caller while the body is still open (the server ends it 20 ms later).
    const reader = response.body.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value as Uint8Array).toString()).toContain('hel');
    expect(tokensUsed(client)).toBe(500);
    while (!(await reader.read()).done);
    await client.onIdle();
    expect(tokensUsed(client)).toBe(77);
    await client.close();
  });

  it("the caller's own cost wins over the estimate, currency by currency", async () => {
    const { client } = metered(transport);
    await client.post('/plain', { json: { max: 900 }, cost: { tokens: 40 } });
    expect(tokensUsed(client)).toBe(40);
    await client.close();
  });

  it('an estimate over a window limit rejects at once: the server would refuse it forever', async () => {
    const { client } = metered(transport);
    const error = await client.post('/plain', { json: { max: 20_000 } }).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain("'tokens' window");
    await client.close();
  });

  it('a refusal for tokens cools down work that costs tokens, not work that costs none', async () => {
    const { client } = metered(transport);
    const refused = await client.post('/refused?type=tokens', { json: { max: 10 }, retry: false }).catch((reason: unknown) => reason);
    expect(refused).toBeInstanceOf(HttpError);
    expect(client.stats().cooldownUntil).toBeNull(); // requests are not held
    const started = performance.now();
    await client.get('/plain');
    expect(performance.now() - started).toBeLessThan(900); // a cooldown of requests would hold it 1 s
    await client.close();
  });

  it('a spent quota is not retried and says why', async () => {
    const { client } = metered(transport);
    const refused = await client
      .post('/refused?type=insufficient_quota', { json: { max: 10 }, idempotencyKey: 'k' })
      .catch((reason: unknown) => reason);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).fatal).toBe('the quota is spent');
    expect((refused as Error).message).toContain('the quota is spent (not retried)');
    expect(client.stats().retried).toBe(0);
    expect(client.stats().cooldownUntil).toBeNull();
    await client.close();
  });

  it("the server's remaining tokens hold work that costs tokens until the reset", async () => {
    const { client } = metered(transport);
    await client.post('/plain?remaining=50', { json: { max: 10 } });
    const held = client.post('/plain', { json: { max: 60 }, maxWaitMs: 100 }).catch((reason: unknown) => reason);
    expect(await held).toMatchObject({ name: 'TimeoutError' });
    await client.get('/plain'); // no tokens: not held
    await client.close();
  });
});

describe('client.fetch with a meter', () => {
  it('settles a streamed body when the caller has read it, after the task ended', async () => {
    const { client, seen } = metered();
    const response = await client.fetch(`${base}/stream?used=33`, { method: 'POST', body: JSON.stringify({ max: 400 }) });
    expect(response.url).toBe(`${base}/stream?used=33`);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(tokensUsed(client)).toBe(400);
    expect(await response.text()).toContain('"usage":33');
    expect(seen.ends).toBe(1);
    expect(tokensUsed(client)).toBe(33);
    await client.close();
  });

  it('takes `rateLimit.cost`, and reads a refusal from a copy of its body', async () => {
    const { client } = metered();
    const response = await client.fetch(`${base}/refused?type=tokens`, { method: 'POST', rateLimit: { cost: { tokens: 5 } } });
    expect(response.status).toBe(429);
    expect(await response.json()).toMatchObject({ error: { type: 'tokens' } }); // the caller still has the whole body
    expect(client.stats().cooldownUntil).toBeNull();
    await client.close();
  });
});

describe('the interceptor with a meter', () => {
  it('estimates from the dispatch body and settles from the body it forwards', async () => {
    const { client } = metered();
    const agent = new Agent().compose(rateLimit(client, { cost: (opts) => (opts.path.includes('fixed') ? { tokens: 7 } : undefined) }));
    const response = await undiciRequest(`${base}/done?used=250`, {
      method: 'POST',
      body: JSON.stringify({ max: 1_000 }),
      dispatcher: agent,
    });
    expect(await response.body.json()).toMatchObject({ usage: 250 });
    await client.onIdle();
    expect(tokensUsed(client)).toBe(250);
    const fixed = await undiciRequest(`${base}/fixed`, { dispatcher: agent });
    await fixed.body.dump();
    await client.onIdle();
    expect(tokensUsed(client)).toBe(257); // /fixed: its own cost of 7, no usage in its body
    await agent.close();
    await client.close();
  });
});

describe('the interceptor cost option', () => {
  it('a fixed cost with a bad amount is refused when the interceptor is made', () => {
    const { client } = metered();
    expect(() => rateLimit(client, { cost: { tokens: -1 } })).toThrow(RangeError);
    expect(() => rateLimit(client, { cost: { tokens: 'many' } as never })).toThrow(/`cost.tokens`/);
    expect(() => rateLimit(client, { cost: 5 as never })).toThrow(TypeError);
  });
});

describe('the meter option', () => {
  it('is checked in the constructor', () => {
    expect(() => new RateLimitedClient({ meter: {} as never })).toThrow(/`meter`.*`estimate`/);
    expect(() => new RateLimitedClient({ meter: { estimate: () => undefined, usage: 5 } as never })).toThrow(/`meter.usage`/);
  });

  it('a meter that answers nonsense can not fail a request either', async () => {
    const odd = {
      estimate: () => ({ tokens: 3 }),
      budgets: () => [null, 5, { counts: 'tokens' }, { counts: 'tokens', remaining: '1', resetMs: 10 }],
      refusal: () => ({ counts: 'tokens', fatal: { not: 'a string' } }),
    } as unknown as Meter;
    const client = new RateLimitedClient({ baseUrl: base, rateLimit: WINDOWS, meter: odd, retry: false });
    expect((await client.post('/done', { json: { max: 1 } })).status).toBe(200);
    const refused = await client.post('/refused?type=tokens', { json: { max: 1 } }).catch((reason: unknown) => reason);
    expect(refused).toBeInstanceOf(HttpError);
    expect((refused as HttpError).fatal).toBeUndefined();
    const fetched = await client.fetch(`${base}/refused?type=tokens`, { method: 'POST', body: '{"max":1}' });
    expect(fetched.status).toBe(429);
    await client.close();
  });

  it('a fatal refusal announces no wait', async () => {
    const { client } = metered();
    const events: unknown[] = [];
    client.on('rate-limited', (event) => events.push(event));
    await client.post('/refused?type=insufficient_quota', { json: { max: 10 } }).catch(() => {});
    expect(events).toEqual([]);
    await client.close();
  });

  it('a meter that throws can not fail a request', async () => {
    const broken: Meter = {
      estimate: () => {
        throw new Error('estimate broke');
      },
      usage: () => ({
        chunk: () => {
          throw new Error('chunk broke');
        },
        end: () => ({ tokens: 1 }),
      }),
    };
    const client = new RateLimitedClient({ baseUrl: base, rateLimit: WINDOWS, meter: broken });
    const response = await client.post('/done?used=5', { json: { max: 9 } });
    expect(response.status).toBe(200);
    expect(tokensUsed(client)).toBe(0); // no estimate (it threw), and no settling from a reader that threw
    await client.close();
  });
});
