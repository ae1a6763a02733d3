// Reliability: secrets never show. A distinctive token is sent in every place a user can put a
// credential (authorization by default and per request, cookie, proxy-authorization, x-api-key, a
// header named in `secretHeaders`), through both transports, `client.fetch` and the undici
// interceptor, and driven through every error path and event against real servers on 127.0.0.1 that
// echo what they received. Every error, cause, event payload and `stats()` is then searched for it.
//
// What README promises (section `secretHeaders`, and "Errors"): the values of `authorization`,
// `proxy-authorization`, `cookie`, `set-cookie`, `x-api-key` and the user's secret headers appear in
// no error message, `util.inspect` or JSON of an error, event or `stats()`; HttpError's response
// `headers` are redacted by name. It does not promise to redact a secret the *server* echoes in its
// body (`bodyPreview` is only "at most 4 KB") or in a response header that is not secret by name, and
// it says outright that a token in the query string shows. Those are set aside below, and listed as
// `it.todo`.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { Agent, type Dispatcher, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientClosedError,
  HttpError,
  NetworkError,
  QueueFullError,
  RateLimitedClient,
  type RateLimitedClientOptions,
  TimeoutError,
  rateLimit,
} from '../../src/index.js';

/** What every search looks for: the part common to every token below. */
const MARK = 'SECRET-7f3a9c';
/** A distinct token per place, so a failure says which one leaked. */
const token = (where: string): string => `sk-live-${MARK}-${where}`;

const SECRET_HEADERS = {
  authorization: `Bearer ${token('auth-default')}`,
  cookie: `session=${token('cookie')}`,
  'proxy-authorization': `Basic ${token('proxy')}`,
  'x-api-key': token('api-key'),
  'X-Vendor-Token': token('vendor'), // named (in another case) in `secretHeaders`
} as const;
const PER_REQUEST = { authorization: `Bearer ${token('auth-request')}`, cookie: `session=${token('cookie-request')}` } as const;

// ---------------------------------------------------------------------------------------------------
// Looking for the token everywhere a value can show.

/** Every rendering of `value` a user might log or send somewhere. */
function renderings(value: unknown, label: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let current: unknown = value;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    const at = depth === 0 ? label : `${label} cause[${depth}]`;
    out.push([`${at} inspect`, inspect(current, { depth: 10, showHidden: true })]);
    out.push([`${at} inspect (default)`, inspect(current)]);
    let json: string;
    try {
      json = JSON.stringify(current) ?? '';
    } catch (error) {
      json = `[JSON.stringify threw: ${String(error)}]`;
    }
    out.push([`${at} JSON`, json]);
    if (current instanceof Error) {
      out.push([`${at} message`, current.message]);
      out.push([`${at} String()`, String(current)]);
      out.push([`${at} stack`, String(current.stack)]);
    }
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return out;
}

/** Fails naming where the token showed, with the text around it. */
function expectNoSecret(value: unknown, label: string): void {
  for (const [where, text] of renderings(value, label)) {
    const at = text.indexOf(MARK);
    if (at !== -1) {
      expect.fail(`the secret shows in ${where}: …${text.slice(Math.max(0, at - 120), at + 60)}…`);
    }
  }
}

/**
 * An HttpError whose server echoed the request's headers in its body: `bodyPreview` holds what the
 * server sent, which README does not promise to redact. Checked without it; everything else must be clean.
 */
function expectNoSecretBesidesBody(error: HttpError, label: string): void {
  Object.defineProperty(error, 'bodyPreview', { value: '[set aside: the server echoed the request in its body]' });
  expectNoSecret(error, label);
}

// ---------------------------------------------------------------------------------------------------
// Two real servers: `main` (the API) and `other` (another origin, a redirect's target).

interface Origin {
  url: string;
  server: Server;
  /** Headers of every request received, in order. */
  received: Array<{ path: string; headers: IncomingHttpHeaders }>;
}

/**
 * Echoes the request's secret headers in secret response headers (set-cookie, x-api-key,
 * authorization, proxy-authorization, x-vendor-token): the client must redact them by name.
 */
function echoSecretHeaders(req: IncomingMessage, res: ServerResponse): void {
  const h = req.headers;
  if (h.cookie !== undefined) res.setHeader('set-cookie', [`echo=${h.cookie}`, 'plain=1']);
  for (const name of ['x-api-key', 'authorization', 'proxy-authorization', 'x-vendor-token']) {
    const value = h[name];
    if (typeof value === 'string') res.setHeader(name, value);
  }
}

function route(self: Origin, req: IncomingMessage, res: ServerResponse, otherUrl: () => string): void {
  const { pathname } = new URL(req.url ?? '/', 'http://x');
  const [, first, second] = pathname.split('/');
  switch (first) {
    case 'ok':
      res.end('ok');
      return;
    case 'fail': // /fail/<status>: secrets echoed in secret response headers, a clean body
      echoSecretHeaders(req, res);
      res.writeHead(Number(second), { 'content-type': 'text/plain' }).end('no, and nothing secret here');
      return;
    case 'echo-body': // /echo-body/<status>: the request's headers echoed in the body too
      echoSecretHeaders(req, res);
      res.writeHead(Number(second), { 'content-type': 'application/json' }).end(JSON.stringify({ youSent: req.headers }));
      return;
    case 'throttled': // 429, wait 20 ms: a `rate-limited` event (and a retry when retries are on)
      echoSecretHeaders(req, res);
      res.writeHead(429, { 'retry-after-ms': '20', 'content-type': 'text/plain' }).end('slow down');
      return;
    case 'used-up': // 200 with nothing left for 50 ms, and a smaller policy: `rate-limited` 'remaining' and 'policy'
      echoSecretHeaders(req, res);
      res.writeHead(200, { 'ratelimit-policy': '"default";q=500;w=60', ratelimit: '"default";r=0;t=0.05' }).end('ok');
      return;
    case 'reset':
      req.socket.destroy();
      return;
    case 'hang':
      return; // never answers
    case 'to-same': // same origin: credentials go on to the landing, which fails
      res.writeHead(302, { location: `/echo-body/${second ?? '500'}` }).end();
      return;
    case 'to-other': // another origin: credentials must be dropped
      res.writeHead(307, { location: `${otherUrl()}/echo-body/${second ?? '200'}` }).end();
      return;
    default:
      res.writeHead(404).end();
  }
}

async function startOrigin(otherUrl: () => string): Promise<Origin> {
  const self = { received: [] } as unknown as Origin;
  self.server = createServer((req, res) => {
    self.received.push({ path: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => route(self, req, res, otherUrl));
  });
  await new Promise<void>((resolve) => self.server.listen(0, '127.0.0.1', resolve));
  self.url = `http://127.0.0.1:${(self.server.address() as AddressInfo).port}`;
  return self;
}

let main: Origin;
let other: Origin;

beforeAll(async () => {
  other = await startOrigin(() => main.url);
  main = await startOrigin(() => other.url);
});

afterAll(async () => {
  for (const origin of [main, other]) {
    origin.server.closeAllConnections();
    await new Promise((resolve) => origin.server.close(resolve));
  }
});

/** The secrets the servers saw since `from`: proof that the token really went out (else "no leak" is vacuous). */
function sentSince(origin: Origin, from: number): string {
  return JSON.stringify(origin.received.slice(from).map((r) => r.headers));
}

// ---------------------------------------------------------------------------------------------------

type Seen = Array<{ event: string; payload: unknown }>;

/** Listens to every event of the client. */
function recordEvents(client: RateLimitedClient): Seen {
  const seen: Seen = [];
  client.on('retry', (payload) => seen.push({ event: 'retry', payload }));
  client.on('rate-limited', (payload) => seen.push({ event: 'rate-limited', payload }));
  client.on('drop', (payload) => seen.push({ event: 'drop', payload }));
  client.on('error', (payload) => seen.push({ event: 'error', payload }));
  client.on('idle', () => seen.push({ event: 'idle', payload: undefined }));
  return seen;
}

function expectEventsClean(seen: Seen, label: string): void {
  seen.forEach(({ event, payload }, i) => expectNoSecret(payload, `${label}: '${event}' event #${i}`));
}

function expectStatsClean(client: RateLimitedClient, label: string): void {
  expectNoSecret(client.stats(), `${label}: stats()`);
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => expect.fail(`expected a rejection, got ${inspect(value)}`),
    (error: unknown) => error,
  );

const FAST_RETRY = { retries: 2, minDelayMs: 1, maxDelayMs: 2 } as const;

function makeClient(transport: 'fetch' | 'undici', extra: RateLimitedClientOptions = {}): RateLimitedClient {
  return new RateLimitedClient({
    baseUrl: main.url,
    transport,
    headers: { ...SECRET_HEADERS },
    secretHeaders: ['x-vendor-token'],
    retry: FAST_RETRY,
    rateLimit: { limit: 10_000, windowMs: 1_000 },
    ...extra,
  });
}

it('the search itself finds a token in every place it looks (else the suite proves nothing)', () => {
  const planted: Array<[string, unknown]> = [
    ['message', new Error(`x ${token('t')}`)],
    ['cause message', new Error('x', { cause: new Error(token('t')) })],
    ['deep cause', new Error('x', { cause: { inner: { cause: new Error(token('t')) } } })],
    ['enumerable field', Object.assign(new Error('x'), { headers: { a: token('t') } })],
    ['hidden field', Object.defineProperty(new Error('x'), 'response', { value: { body: token('t') }, enumerable: false })],
    ['a field only JSON sees', { toJSON: () => ({ a: token('t') }) }],
    ['payload', { url: `http://h/?k=${token('t')}` }],
  ];
  for (const [where, value] of planted) {
    expect(() => expectNoSecret(value, where), where).toThrow(/the secret shows in/);
  }
  expect(() => expectNoSecret(new Error('clean', { cause: new Error('also clean') }), 'clean')).not.toThrow();
});

for (const transport of ['fetch', 'undici'] as const) {
  describe(`through the '${transport}' transport: request(), get()…`, () => {
    it('HttpError 4xx and 5xx with the secrets echoed in (secret) response headers: none shows, after retries too', async () => {
      const client = makeClient(transport);
      const seen = recordEvents(client);
      const from = main.received.length;
      const errors: Array<[string, unknown]> = [];
      for (const status of [400, 401, 403, 404, 500, 503]) {
        errors.push([`default headers, ${status}`, await rejection(client.get(`/fail/${status}`))]);
        errors.push([
          `per-request headers, ${status}`,
          await rejection(client.post(`/fail/${status}`, { headers: { ...PER_REQUEST }, json: { a: 1 }, idempotencyKey: 'k-1' })),
        ]);
      }
      // The token went out, and came back in the secret response headers: the test is not vacuous.
      expect(sentSince(main, from)).toContain(token('auth-default'));
      expect(sentSince(main, from)).toContain(token('auth-request'));
      expect(sentSince(main, from)).toContain(token('vendor'));
      for (const [label, error] of errors) {
        expect(error, label).toBeInstanceOf(HttpError);
        const http = error as HttpError;
        expect(http.headers['set-cookie'], label).toBe('[REDACTED]');
        for (const name of ['x-api-key', 'authorization', 'proxy-authorization', 'x-vendor-token']) {
          expect(http.headers[name], `${label}: ${name}`).toBe('[REDACTED]');
          expect(http.response.headers.get(name), `${label}: response.headers ${name}`).toBe('[REDACTED]');
        }
        expectNoSecret(error, label);
        expectNoSecret(http.response.headers, `${label}: response.headers`);
        expect(await http.response.text()).not.toContain(MARK);
      }
      // 500 and 503 were retried twice each, for both requests: 8 retry events, each with an HttpError.
      expect(seen.filter((s) => s.event === 'retry')).toHaveLength(8);
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close();
    });

    it('HttpError when the server echoes the request in its body: clean but for bodyPreview (see the todo)', async () => {
      const client = makeClient(transport, { retry: false });
      const seen = recordEvents(client);
      for (const status of [401, 500]) {
        const error = await rejection(client.get(`/echo-body/${status}`, { headers: { ...PER_REQUEST } }));
        expect(error).toBeInstanceOf(HttpError);
        expectNoSecretBesidesBody(error as HttpError, `echo-body ${status}`);
      }
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close();
    });

    it('NetworkError (socket reset), retried: no secret in the error, its cause chain or the retry events', async () => {
      const client = makeClient(transport);
      const seen = recordEvents(client);
      const from = main.received.length;
      const error = await rejection(client.get('/reset', { headers: { ...PER_REQUEST } }));
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as NetworkError).cause).toBeDefined();
      expect(main.received.length - from).toBe(3); // first attempt and two retries: the token went out three times
      expect(sentSince(main, from)).toContain(token('auth-request'));
      expectNoSecret(error, 'NetworkError');
      const retries = seen.filter((s) => s.event === 'retry');
      expect(retries).toHaveLength(2);
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close();
    });

    it('TimeoutError (a server that never answers), retried once', async () => {
      const client = makeClient(transport, { timeoutMs: 100, retry: { retries: 1, minDelayMs: 1, maxDelayMs: 1 } });
      const seen = recordEvents(client);
      const error = await rejection(client.get('/hang', { headers: { ...PER_REQUEST } }));
      expect(error).toBeInstanceOf(TimeoutError);
      expectNoSecret(error, 'TimeoutError');
      expect(seen.filter((s) => s.event === 'retry')).toHaveLength(1);
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close({ drain: false });
    });

    it("'rate-limited' events (429 with a wait, a used-up quota, a smaller policy) and the 429's HttpError", async () => {
      const client = makeClient(transport, { retry: { retries: 1, minDelayMs: 1, maxDelayMs: 1 } });
      const seen = recordEvents(client);
      const error = await rejection(client.get('/throttled', { headers: { ...PER_REQUEST } }));
      expect(error).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 429 });
      expectNoSecret(error, '429 HttpError');
      await client.get('/used-up');
      const reasons = seen.filter((s) => s.event === 'rate-limited').map((s) => (s.payload as { reason: string }).reason);
      expect(reasons).toEqual(expect.arrayContaining(['retry-after', 'remaining', 'policy']));
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close({ drain: false });
    });

    it('a same-origin redirect keeps the credentials (the landing sees them) and its error shows none', async () => {
      const client = makeClient(transport, { retry: false });
      const seen = recordEvents(client);
      const from = main.received.length;
      const error = await rejection(client.get('/to-same/500', { headers: { ...PER_REQUEST } }));
      expect(error).toBeInstanceOf(HttpError);
      expect(main.received.slice(from).map((r) => r.path)).toEqual(['/to-same/500', '/echo-body/500']);
      expect(JSON.stringify(main.received.at(-1)?.headers)).toContain(token('auth-request'));
      expectNoSecretBesidesBody(error as HttpError, 'same-origin redirect');
      expectEventsClean(seen, 'events');
      await client.close();
    });

    it('a redirect to another origin: not followed by default (the 3xx shows no secret); followed when allowed, with every secret header dropped', async () => {
      const closed = makeClient(transport, { retry: false });
      const refused = await rejection(closed.get('/to-other/200'));
      expect(refused).toBeInstanceOf(HttpError);
      expect(refused).toMatchObject({ status: 307 });
      expectNoSecret(refused, 'unfollowed 307');
      await closed.close();

      const client = makeClient(transport, { retry: false, allowAbsoluteUrls: true });
      const seen = recordEvents(client);
      const from = other.received.length;
      const ok = await client.get('/to-other/200', { headers: { ...PER_REQUEST, 'x-plain': 'visible' } });
      expect(ok.status).toBe(200);
      const error = await rejection(client.get('/to-other/403', { headers: { 'x-plain': 'visible' } }));
      expect(error).toBeInstanceOf(HttpError);
      const arrived = other.received.slice(from);
      expect(arrived).toHaveLength(2);
      for (const { headers } of arrived) {
        expect(headers['x-plain']).toBe('visible'); // headers do go on, only secret ones are dropped
        expect(JSON.stringify(headers)).not.toContain(MARK);
      }
      // Nothing secret reached the other origin, so even its echo of the request is clean: no set-aside.
      expectNoSecret(error, 'cross-origin 403');
      expectNoSecret(await ok.text(), 'cross-origin 200 body');
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close();
    });

    it('QueueFullError, a drop event and ClientClosedError of queued requests carrying secrets', async () => {
      const client = makeClient(transport, { queue: { maxSize: 1, overflow: 'drop-oldest' } });
      const seen = recordEvents(client);
      client.pause();
      const dropped = rejection(client.get('/ok', { headers: { ...PER_REQUEST } }));
      const discarded = rejection(client.get('/ok', { headers: { ...PER_REQUEST } }));
      expect(await dropped).toBeInstanceOf(QueueFullError);
      expectNoSecret(await dropped, 'QueueFullError');
      expect(seen.filter((s) => s.event === 'drop')).toHaveLength(1);
      const closing = client.close({ drain: false });
      expect(await discarded).toBeInstanceOf(ClientClosedError);
      expectNoSecret(await discarded, 'ClientClosedError');
      await closing;
      expectNoSecret(await rejection(client.get('/ok')), 'after close');
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
    });
  });
}

describe('values that are refused', () => {
  const CRLF_VALUES = [`Bearer ${token('crlf')}\r\nx-injected: 1`, `${token('lf')}\n`, `${token('cr')}\r`, `${token('nul')}\0`];

  it('a header value with CR, LF or NUL in the constructor: a TypeError that does not echo the value', () => {
    for (const name of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key', 'x-vendor-token', 'x-not-secret']) {
      for (const value of CRLF_VALUES) {
        let error: unknown;
        try {
          new RateLimitedClient({ baseUrl: main.url, headers: { [name]: value }, secretHeaders: ['x-vendor-token'] });
        } catch (caught) {
          error = caught;
        }
        expect(error, `${name}: ${JSON.stringify(value)}`).toBeInstanceOf(TypeError);
        expect((error as Error).message).toContain(`\`${name}\``);
        expectNoSecret(error, `constructor header ${name}`);
      }
    }
  });

  for (const transport of ['fetch', 'undici'] as const) {
    it(`a header value with CR, LF or NUL per request ('${transport}'): rejected, nothing sent, nothing echoed`, async () => {
      const client = makeClient(transport);
      const seen = recordEvents(client);
      const from = main.received.length;
      for (const name of ['authorization', 'cookie', 'proxy-authorization', 'x-api-key', 'x-vendor-token']) {
        for (const value of CRLF_VALUES) {
          const error = await rejection(client.get('/ok', { headers: { [name]: value } }));
          expect(error).toBeInstanceOf(TypeError);
          expectNoSecret(error, `request header ${name}`);
        }
      }
      expect(main.received.length).toBe(from);
      expectEventsClean(seen, 'events');
      expectStatsClean(client, 'stats');
      await client.close();
    });
  }

  it('a secret header whose value has the wrong type (a bigint key) is refused without echoing it', async () => {
    const value = BigInt('73616' + '7390001'); // a numeric API key given as a bigint; its digits are the secret
    const digits = String(value);
    let error: unknown;
    try {
      new RateLimitedClient({ headers: { 'x-api-key': value as never } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('`x-api-key`');
    expect((error as Error).message, 'the message shows the secret value').not.toContain(digits);
    const client = new RateLimitedClient({ baseUrl: main.url });
    const rejected = (await rejection(client.get('/ok', { headers: { authorization: value as never } }))) as Error;
    expect(rejected).toBeInstanceOf(TypeError);
    expect(rejected.message, 'the message shows the secret value').not.toContain(digits);
  });

  describe('a URL with user:password: refused without showing the password', () => {
    const password = token('password');

    it('as baseUrl', () => {
      for (const baseUrl of [`http://alice:${password}@127.0.0.1:1/`, `https://alice:${password}@api.example/v1`]) {
        let error: unknown;
        try {
          new RateLimitedClient({ baseUrl });
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(TypeError);
        expect((error as Error).message).toContain('`baseUrl`');
        expectNoSecret(error, `baseUrl ${baseUrl}`);
      }
    });

    it('as a baseUrl that does not even parse', () => {
      let error: unknown;
      try {
        new RateLimitedClient({ baseUrl: `http://alice:${password}@bad host/` });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain('`baseUrl`');
      expectNoSecret(error, 'unparsable baseUrl');
    });

    it('as a full URL path on a client without baseUrl, both transports', async () => {
      for (const transport of ['fetch', 'undici'] as const) {
        const client = new RateLimitedClient({ transport });
        const from = main.received.length;
        const url = main.url.replace('http://', `http://alice:${password}@`);
        const error = await rejection(client.get(`${url}/ok`));
        expect(error).toBeInstanceOf(TypeError);
        expect((error as Error).message).toContain('`path`');
        expectNoSecret(error, `path ${transport}`);
        expect(main.received.length).toBe(from);
        expectStatsClean(client, 'stats');
        await client.close();
      }
    });

    it('as a full URL path that does not even parse, on a client without baseUrl', async () => {
      const client = new RateLimitedClient();
      const error = await rejection(client.get(`http://alice:${password}@bad host/x`));
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain('`path`');
      expectNoSecret(error, 'unparsable path');
      await client.close();
    });

    it('as a path naming another URL on a client with a baseUrl (refused as leaving baseUrl)', async () => {
      const client = new RateLimitedClient({ baseUrl: main.url });
      for (const path of [`http://alice:${password}@evil.example/x`, `//alice:${password}@evil.example/x`]) {
        const error = await rejection(client.get(path));
        expect(error).toBeInstanceOf(TypeError);
        expect((error as Error).message).toContain('`path`');
        expectNoSecret(error, `path ${path}`);
      }
      await client.close();
    });

    it('as a path with allowAbsoluteUrls', async () => {
      const client = new RateLimitedClient({ baseUrl: main.url, allowAbsoluteUrls: true });
      const error = await rejection(client.get(`${main.url.replace('http://', `http://alice:${password}@`)}/ok`));
      expect(error).toBeInstanceOf(TypeError);
      expectNoSecret(error, 'absolute path with credentials');
      await client.close();
    });
  });
});

describe('client.fetch', () => {
  it('errors (reset, timeout, a 429 cooldown) and events carry no secret from init.headers or a Request', async () => {
    const client = makeClient('fetch', { timeoutMs: 100 });
    const seen = recordEvents(client);
    const from = main.received.length;
    const headers = { ...SECRET_HEADERS, ...PER_REQUEST };
    const reset = await rejection(client.fetch(`${main.url}/reset`, { headers }));
    expect(reset).toBeInstanceOf(TypeError); // fetch's own: "fetch failed", with the socket error as cause
    expectNoSecret(reset, 'fetch reset');
    const timedOut = await rejection(client.fetch(new Request(`${main.url}/hang`, { headers })));
    expect(timedOut).toBeInstanceOf(TimeoutError);
    expectNoSecret(timedOut, 'fetch timeout');
    const throttled = await client.fetch(`${main.url}/throttled`, { headers });
    expect(throttled.status).toBe(429); // not an error for fetch; it cools the client down
    await throttled.arrayBuffer();
    expect(sentSince(main, from)).toContain(token('auth-request'));
    expect(seen.some((s) => s.event === 'rate-limited')).toBe(true);
    expectEventsClean(seen, 'events');
    expectStatsClean(client, 'stats');
    await client.close({ drain: false });
  });

  it('a header value with CR/LF is refused without echoing the value', async () => {
    const client = makeClient('fetch');
    const error = await rejection(client.fetch(`${main.url}/ok`, { headers: { authorization: `Bearer ${token('fetch-crlf')}\r\nx: 1` } }));
    expect(error).toBeInstanceOf(TypeError);
    expectNoSecret(error, 'client.fetch CR/LF header');
    await client.close();
  });

  it('a URL with user:password is refused without echoing the password', async () => {
    const client = makeClient('fetch');
    const error = await rejection(client.fetch(main.url.replace('http://', `http://alice:${token('fetch-password')}@`)));
    expect(error).toBeInstanceOf(TypeError);
    expectNoSecret(error, 'client.fetch URL with credentials');
    await client.close();
  });
});

describe('the undici interceptor rateLimit(client)', () => {
  async function withAgent<T>(
    client: RateLimitedClient,
    run: (dispatcher: Dispatcher) => Promise<T>,
    agentOptions: ConstructorParameters<typeof Agent>[0] = {},
  ): Promise<T> {
    const agent = new Agent(agentOptions);
    try {
      return await run(agent.compose(rateLimit(client)));
    } finally {
      await client.close({ drain: false });
      await agent.destroy();
    }
  }

  it('a reset, a headers timeout, an error status and a CR/LF header: no secret in errors, events or stats', async () => {
    const client = new RateLimitedClient({ rateLimit: { limit: 1_000, windowMs: 1_000 } });
    const seen = recordEvents(client);
    const from = main.received.length;
    const headers = { ...SECRET_HEADERS, ...PER_REQUEST };
    await withAgent(
      client,
      async (dispatcher) => {
        const failed = await undiciRequest(`${main.url}/fail/500`, { dispatcher, headers });
        expect(failed.statusCode).toBe(500);
        await failed.body.dump();
        const reset = await rejection(undiciRequest(`${main.url}/reset`, { dispatcher, headers }));
        expect(reset).toBeInstanceOf(Error);
        expectNoSecret(reset, 'interceptor reset');
        const timedOut = await rejection(undiciRequest(`${main.url}/hang`, { dispatcher, headers }));
        expect((timedOut as { code?: string }).code).toBe('UND_ERR_HEADERS_TIMEOUT');
        expectNoSecret(timedOut, 'interceptor headers timeout');
        const crlf = await rejection(
          undiciRequest(`${main.url}/ok`, { dispatcher, headers: { authorization: `Bearer ${token('interceptor-crlf')}\r\nx: 1` } }),
        );
        expect(crlf).toBeInstanceOf(Error);
        expectNoSecret(crlf, 'interceptor CR/LF header');
      },
      { headersTimeout: 100 },
    );
    expect(sentSince(main, from)).toContain(token('auth-request'));
    expectEventsClean(seen, 'events');
    expectStatsClean(client, 'stats');
  });

  it('queued requests ended by close({ drain: false }) and by an abort: no secret in the errors', async () => {
    const client = new RateLimitedClient({ concurrency: 1 });
    const seen = recordEvents(client);
    const headers = { ...SECRET_HEADERS, ...PER_REQUEST };
    await withAgent(client, async (dispatcher) => {
      client.pause();
      const controller = new AbortController();
      const aborted = rejection(undiciRequest(`${main.url}/ok`, { dispatcher, headers, signal: controller.signal }));
      const discarded = rejection(undiciRequest(`${main.url}/ok`, { dispatcher, headers }));
      await new Promise((resolve) => setImmediate(resolve));
      expect(client.stats().queued).toBe(2);
      controller.abort();
      expectNoSecret(await aborted, 'interceptor aborted while queued');
      const closing = client.close({ drain: false });
      expect(await discarded).toBeInstanceOf(ClientClosedError);
      expectNoSecret(await discarded, 'interceptor ClientClosedError');
      await closing;
    });
    expectEventsClean(seen, 'events');
    expectStatsClean(client, 'stats');
  });
});

describe('not covered (README does not promise these)', () => {
  it.todo(
    'a token in the query string (`?api_key=…`): README says it "does show in error messages and `url`s" ' +
      '(HttpError.message and .url, NetworkError.message and .url, retry and rate-limited event `url`s). ' +
      'A test would fail today by design; a redaction of known secret query parameters would make it one.',
  );
  it.todo(
    "redacting a secret the server echoes in its response body from HttpError.bodyPreview (and error.response's body): " +
      'README only bounds the preview (4 KB); the client knows the values it sent and could mask them.',
  );
  it.todo('redacting a secret the server echoes in a response header that is not secret by name (e.g. `x-echo-auth`)');
});
