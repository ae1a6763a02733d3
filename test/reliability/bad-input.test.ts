// Reliability: bad input is refused at once, precisely, and leaves nothing behind.
//
// test/unit/core/validation.test.ts already holds a table of 86 bad inputs (52 constructor options,
// 24 schedule() arguments, 5 of onSizeLessThan/close, 5 of the setters and on()), and
// test/unit/http/options.test.ts 27 more (13 HTTP constructor options, 14 request()/fetch() arguments).
// This file adds the categories the reliability issue asks for that those tables leave out: types,
// ranges, NaN, Infinity and negative numbers where they were missing (workers, timeoutMs, retry,
// adaptive, every per-request option of request()/get()/fetch(), the setters), conflicting options,
// header values with CR/LF/NUL, weights over a limit (for requests, fetch, the interceptor, after a
// setter), the interceptor's options and RedisStore's options.
//
// Each case asserts the contract of README ("Options", "schedule", "setRateLimit"): a synchronous
// TypeError or RangeError (exactly that class) from a constructor or a setter, a rejected promise
// (never a synchronous throw) from a per-request method, a message that names the argument, and
// nothing half-built, nothing queued: after a bad request `stats()` is unchanged and the server got
// nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request as undiciRequest } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, RateLimitedClient, rateLimit } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';

type ErrorKind = typeof TypeError | typeof RangeError;

interface Expectation {
  error: ErrorKind;
  /** What the message must contain: at least the argument's name. */
  has: ReadonlyArray<string | RegExp>;
}

function expectError(error: unknown, c: Expectation, label: string): void {
  expect(error, label).toBeInstanceOf(Error);
  // Exactly the class: a RangeError where a TypeError is due (or the reverse), or a plain Error, fails.
  expect((error as Error).constructor, `${label}: ${String(error)}`).toBe(c.error);
  for (const piece of c.has) {
    if (typeof piece === 'string') expect((error as Error).message, label).toContain(piece);
    else expect((error as Error).message, label).toMatch(piece);
  }
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a synchronous throw, nothing was thrown');
}

// ---------------------------------------------------------------------------------------------------
// A real server that counts what it receives: "the server received nothing" is checked there.

let server: Server;
let base: string;
/** Requests received, by their first path segment (each client of a test has its own). */
const hitsBy = new Map<string, number>();
const hitsAt = (id: string): number => hitsBy.get(id) ?? 0;
let nextId = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const id = (req.url ?? '/').split('/')[1] ?? '';
    hitsBy.set(id, hitsAt(id) + 1);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

// ---------------------------------------------------------------------------------------------------
// Constructor options missing from the existing tables.

interface ConstructorCase extends Expectation {
  name: string;
  options: Record<string, unknown>;
}

const W = { limit: 10, windowMs: 1_000 };

const constructorCases: ConstructorCase[] = [
  // workers: NaN, negative, null (the unit table has 0, 2.5, Infinity, '4')
  { name: 'workers NaN', options: { workers: Number.NaN }, error: RangeError, has: ['`workers`', '`NaN` (number)'] },
  { name: 'workers -2', options: { workers: -2 }, error: RangeError, has: ['`workers`', '`-2` (number)'] },
  { name: 'workers null', options: { workers: null }, error: TypeError, has: ['`workers`', '`null` (null)'] },
  // queue.maxSize and rateLimit: negative and infinite values the table leaves out
  {
    name: 'queue.maxSize -Infinity',
    options: { queue: { maxSize: -Infinity } },
    error: RangeError,
    has: ['`queue.maxSize`', '`-Infinity` (number)'],
  },
  {
    name: 'rateLimit.limit -1',
    options: { rateLimit: { limit: -1, windowMs: 1_000 } },
    error: RangeError,
    has: ['`rateLimit.limit`', '`-1` (number)'],
  },
  {
    name: 'rateLimit.limit NaN',
    options: { rateLimit: { limit: Number.NaN, windowMs: 1_000 } },
    error: RangeError,
    has: ['`rateLimit.limit`', '`NaN` (number)'],
  },
  {
    name: 'rateLimit.windowMs -Infinity',
    options: { rateLimit: { limit: 1, windowMs: -Infinity } },
    error: RangeError,
    has: ['`rateLimit.windowMs`', '`-Infinity` (number)'],
  },
  {
    name: "rateLimit[0] '10/s' (string)",
    options: { rateLimit: ['10/s'] },
    error: TypeError,
    has: ['`rateLimit[0]`', '`"10/s"` (string)'],
  },
  // timeoutMs: negative, -Infinity, wrong types (the HTTP table has 0 and NaN)
  { name: 'timeoutMs -1', options: { timeoutMs: -1 }, error: RangeError, has: ['`timeoutMs`', '`-1` (number)'] },
  { name: 'timeoutMs -Infinity', options: { timeoutMs: -Infinity }, error: RangeError, has: ['`timeoutMs`', '`-Infinity` (number)'] },
  { name: "timeoutMs '100' (string)", options: { timeoutMs: '100' }, error: TypeError, has: ['`timeoutMs`', '`"100"` (string)'] },
  { name: 'timeoutMs null', options: { timeoutMs: null }, error: TypeError, has: ['`timeoutMs`', '`null` (null)'] },
  // headers: CR, LF and NUL each, in secret and plain headers; wrong value types; a bad name
  {
    name: 'header authorization with CR',
    options: { headers: { authorization: 'a\rb' } },
    error: TypeError,
    has: ['`authorization`', '`headers`', 'CR, LF or NUL'],
  },
  {
    name: 'header cookie with LF',
    options: { headers: { cookie: 'a=1\nb=2' } },
    error: TypeError,
    has: ['`cookie`', '`headers`', 'CR, LF or NUL'],
  },
  {
    name: 'header x-api-key with NUL',
    options: { headers: { 'x-api-key': 'k\0' } },
    error: TypeError,
    has: ['`x-api-key`', '`headers`', 'CR, LF or NUL'],
  },
  {
    name: 'header X-Trace with CRLF (header injection)',
    options: { headers: { 'X-Trace': '1\r\nx-admin: yes' } },
    error: TypeError,
    has: ['`x-trace`', '`headers`', 'CR, LF or NUL'],
  },
  { name: 'header value null', options: { headers: { 'x-a': null } }, error: TypeError, has: ['`x-a`', '`headers`', 'of type null'] },
  { name: 'header value true', options: { headers: { 'x-a': true } }, error: TypeError, has: ['`x-a`', '`headers`', 'of type boolean'] },
  { name: 'header name with a space', options: { headers: { 'x a': '1' } }, error: TypeError, has: ['`headers`', '"x a"'] },
  { name: 'header name with a colon', options: { headers: { 'x-a: 1\r\nx-b': '1' } }, error: TypeError, has: ['`headers`'] },
  { name: 'headers a string', options: { headers: 'authorization: x' }, error: TypeError, has: ['`headers`', '(string)'] },
  // baseUrl
  { name: 'baseUrl with a query', options: { baseUrl: 'http://api.example/?v=1' }, error: TypeError, has: ['`baseUrl`', 'query'] },
  { name: 'baseUrl with a fragment', options: { baseUrl: 'http://api.example/#x' }, error: TypeError, has: ['`baseUrl`', 'fragment'] },
  { name: 'baseUrl null', options: { baseUrl: null }, error: TypeError, has: ['`baseUrl`', '`null` (null)'] },
  // secretHeaders, transport, dispatcher
  { name: 'secretHeaders [42]', options: { secretHeaders: ['x-a', 42] }, error: TypeError, has: ['`secretHeaders`'] },
  { name: 'secretHeaders null', options: { secretHeaders: null }, error: TypeError, has: ['`secretHeaders`', '`null` (null)'] },
  { name: 'transport null', options: { transport: null }, error: TypeError, has: ['`transport`', '`null` (null)'] },
  { name: "dispatcher 'agent' (string)", options: { dispatcher: 'agent' }, error: TypeError, has: ['`dispatcher`', '`"agent"` (string)'] },
  // retry: none of it is in the existing tables
  { name: 'retry true', options: { retry: true }, error: TypeError, has: ['`retry`', '`true` (boolean)'] },
  { name: "retry 'always' (string)", options: { retry: 'always' }, error: TypeError, has: ['`retry`', '`"always"` (string)'] },
  { name: 'retry.retries -1', options: { retry: { retries: -1 } }, error: RangeError, has: ['`retry.retries`', '`-1` (number)'] },
  { name: 'retry.retries 1.5', options: { retry: { retries: 1.5 } }, error: RangeError, has: ['`retry.retries`', '`1.5` (number)'] },
  { name: 'retry.retries NaN', options: { retry: { retries: Number.NaN } }, error: RangeError, has: ['`retry.retries`', '`NaN` (number)'] },
  {
    name: 'retry.retries Infinity',
    options: { retry: { retries: Infinity } },
    error: RangeError,
    has: ['`retry.retries`', '`Infinity` (number)'],
  },
  {
    name: "retry.retries '3' (string)",
    options: { retry: { retries: '3' } },
    error: TypeError,
    has: ['`retry.retries`', '`"3"` (string)'],
  },
  { name: 'retry.minDelayMs -1', options: { retry: { minDelayMs: -1 } }, error: RangeError, has: ['`retry.minDelayMs`', '`-1` (number)'] },
  {
    name: 'retry.minDelayMs NaN',
    options: { retry: { minDelayMs: Number.NaN } },
    error: RangeError,
    has: ['`retry.minDelayMs`', '`NaN` (number)'],
  },
  {
    name: 'retry.maxDelayMs -Infinity',
    options: { retry: { maxDelayMs: -Infinity } },
    error: RangeError,
    has: ['`retry.maxDelayMs`', '`-Infinity` (number)'],
  },
  {
    name: 'retry.maxRetryAfterMs NaN',
    options: { retry: { maxRetryAfterMs: Number.NaN } },
    error: RangeError,
    has: ['`retry.maxRetryAfterMs`', '`NaN` (number)'],
  },
  { name: "retry.statusCodes '500' (string)", options: { retry: { statusCodes: '500' } }, error: TypeError, has: ['`retry.statusCodes`'] },
  { name: 'retry.statusCodes [500.5]', options: { retry: { statusCodes: [500.5] } }, error: TypeError, has: ['`retry.statusCodes`'] },
  { name: 'retry.methods [1]', options: { retry: { methods: [1] } }, error: TypeError, has: ['`retry.methods`'] },
  {
    name: "retry.errorCodes 'ECONNRESET' (string)",
    options: { retry: { errorCodes: 'ECONNRESET' } },
    error: TypeError,
    has: ['`retry.errorCodes`'],
  },
  { name: "retry.jitter 'half'", options: { retry: { jitter: 'half' } }, error: RangeError, has: ['`retry.jitter`', '`"half"` (string)'] },
  { name: 'retry.jitter true', options: { retry: { jitter: true } }, error: TypeError, has: ['`retry.jitter`', '`true` (boolean)'] },
  {
    name: 'retry.random 0.5 (not a function)',
    options: { retry: { random: 0.5 } },
    error: TypeError,
    has: ['`retry.random`', '`0.5` (number)'],
  },
  { name: 'unknown key retry.retry', options: { retry: { retry: 3 } }, error: TypeError, has: ['`retry.retry`'] },
  // adaptive
  { name: "adaptive 'yes'", options: { adaptive: 'yes' }, error: TypeError, has: ['`adaptive`', '`"yes"` (string)'] },
  { name: 'adaptive 1', options: { adaptive: 1 }, error: TypeError, has: ['`adaptive`', '`1` (number)'] },
  {
    name: "adaptive.resetMode 'epoch'",
    options: { adaptive: { resetMode: 'epoch' } },
    error: RangeError,
    has: ['`adaptive.resetMode`', '`"epoch"` (string)'],
  },
  {
    name: 'adaptive.resetMode 2',
    options: { adaptive: { resetMode: 2 } },
    error: TypeError,
    has: ['`adaptive.resetMode`', '`2` (number)'],
  },
  {
    name: "adaptive.resource ''",
    options: { adaptive: { resource: ' ' } },
    error: TypeError,
    has: ['`adaptive.resource`', 'non-empty string'],
  },
  { name: 'adaptive.resource 2', options: { adaptive: { resource: 2 } }, error: TypeError, has: ['`adaptive.resource`', '`2` (number)'] },
  { name: 'unknown key adaptive.reset', options: { adaptive: { reset: 'auto' } }, error: TypeError, has: ['`adaptive.reset`'] },
  // conflicting options
  {
    name: 'conflict: retry.maxDelayMs below retry.minDelayMs',
    options: { retry: { minDelayMs: 1_000, maxDelayMs: 10 } },
    error: RangeError,
    has: ['`retry.maxDelayMs`', '`retry.minDelayMs`'],
  },
  {
    name: 'conflict: retry.minDelayMs over the default maxDelayMs (30 000)',
    options: { retry: { minDelayMs: 60_000 } },
    error: RangeError,
    has: ['`retry.maxDelayMs`', '`retry.minDelayMs`'],
  },
  {
    name: "conflict: queue.overflow 'drop-lowest-priority' with no maxSize",
    options: { queue: { overflow: 'drop-lowest-priority' } },
    error: TypeError,
    has: ['`queue.overflow`', '`queue.maxSize`'],
  },
];

describe('constructor options: a synchronous TypeError or RangeError naming the option', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(constructorCases)('$name', (c) => {
    expectError(
      thrownBy(() => new RateLimitedClient(c.options)),
      c,
      c.name,
    );
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each(constructorCases)('nothing half-built, the store given beside it is left untouched: $name', (c) => {
    const store = new MemoryStore();
    const open = vi.spyOn(store, 'open');
    expectError(
      thrownBy(() => new RateLimitedClient({ ...c.options, store })),
      c,
      c.name,
    );
    expect(open).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
    // Still free for a client that is built whole.
    expect(() => new RateLimitedClient({ store })).not.toThrow();
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('conflict: one store given to a second client is refused with a TypeError naming `store`, and the second client is not built', () => {
    const store = new MemoryStore();
    const first = new RateLimitedClient({ store, rateLimit: W });
    expectError(
      thrownBy(() => new RateLimitedClient({ store, rateLimit: W })),
      { error: TypeError, has: ['`store`'] },
      'second client',
    );
    expect(first.stats().windows).toEqual([{ ...W, counts: 'requests', used: 0 }]);
  });

  it('the boundary values next to the refused ones are accepted', () => {
    expect(
      () =>
        new RateLimitedClient({
          workers: 1,
          timeoutMs: Infinity,
          retry: {
            retries: 0,
            minDelayMs: 0,
            maxDelayMs: 0,
            maxRetryAfterMs: 0,
            statusCodes: [],
            methods: [],
            errorCodes: [],
            jitter: 'none',
          },
          adaptive: { resetMode: 'delta-seconds' },
          headers: { 'x-a': 1, 'x-b': '' },
          secretHeaders: [],
        }),
    ).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------
// Per-request arguments: a rejected promise, nothing queued, nothing sent.

interface CallCase extends Expectation {
  name: string;
  /** `at` is the client's own baseUrl on the server, for `client.fetch`. */
  call: (client: RateLimitedClient, at: string) => Promise<unknown>;
}

const opened: RateLimitedClient[] = [];
afterEach(async () => {
  // A test that failed half-way leaves its client paused with work queued: end it here.
  for (const client of opened.splice(0)) {
    client.resume();
    await client.close({ drain: false }).catch(() => {});
  }
});

/**
 * concurrency 4; windows of 10 per second and 3 per minute (weight 4 fits no window of 3). Its
 * baseUrl is its own path on the server, so its requests are counted apart from any other test's.
 */
function makeClient(): { client: RateLimitedClient; id: string; at: string } {
  const id = `c${nextId++}`;
  const at = `${base}/${id}`;
  const client = new RateLimitedClient({ baseUrl: at, concurrency: 4, rateLimit: [W, { limit: 3, windowMs: 60_000 }], retry: false });
  opened.push(client);
  return { client, id, at };
}

const taskRuns = { count: 0 };
const task = (): string => {
  taskRuns.count++;
  return 'ran';
};

const requestCases: CallCase[] = [
  // priority
  {
    name: 'get priority Infinity',
    call: (c) => c.get('/x', { priority: Infinity }),
    error: RangeError,
    has: ['`priority`', '`Infinity` (number)'],
  },
  {
    name: 'get priority -Infinity',
    call: (c) => c.get('/x', { priority: -Infinity }),
    error: RangeError,
    has: ['`priority`', '`-Infinity` (number)'],
  },
  {
    name: "get priority '1' (string)",
    call: (c) => c.get('/x', { priority: '1' as never }),
    error: TypeError,
    has: ['`priority`', '`"1"` (string)'],
  },
  // weight: ranges, NaN, Infinity, negative, types, and over a limit
  { name: 'get weight 1.5', call: (c) => c.get('/x', { weight: 1.5 }), error: RangeError, has: ['`weight`', '`1.5` (number)'] },
  { name: 'get weight -2', call: (c) => c.get('/x', { weight: -2 }), error: RangeError, has: ['`weight`', '`-2` (number)'] },
  { name: 'get weight NaN', call: (c) => c.get('/x', { weight: Number.NaN }), error: RangeError, has: ['`weight`', '`NaN` (number)'] },
  {
    name: 'get weight Infinity',
    call: (c) => c.get('/x', { weight: Infinity }),
    error: RangeError,
    has: ['`weight`', '`Infinity` (number)'],
  },
  {
    name: "get weight '2' (string)",
    call: (c) => c.get('/x', { weight: '2' as never }),
    error: TypeError,
    has: ['`weight`', '`"2"` (string)'],
  },
  {
    name: 'get weight 5 over concurrency 4',
    call: (c) => c.get('/x', { weight: 5 }),
    error: RangeError,
    has: ['`weight`', '`concurrency`', 'at most 4'],
  },
  {
    name: 'post weight 4 over the limit 3 of a window',
    call: (c) => c.post('/x', { weight: 4, json: {} }),
    error: RangeError,
    has: ['`weight`', '`limit`', 'at most 3'],
  },
  // timeoutMs, maxWaitMs, signal, stream, throwHttpErrors
  { name: 'get timeoutMs 0', call: (c) => c.get('/x', { timeoutMs: 0 }), error: RangeError, has: ['`timeoutMs`', '`0` (number)'] },
  { name: 'get timeoutMs -5', call: (c) => c.get('/x', { timeoutMs: -5 }), error: RangeError, has: ['`timeoutMs`', '`-5` (number)'] },
  {
    name: 'get timeoutMs NaN',
    call: (c) => c.get('/x', { timeoutMs: Number.NaN }),
    error: RangeError,
    has: ['`timeoutMs`', '`NaN` (number)'],
  },
  {
    name: "get timeoutMs '5' (string)",
    call: (c) => c.get('/x', { timeoutMs: '5' as never }),
    error: TypeError,
    has: ['`timeoutMs`', '`"5"` (string)'],
  },
  { name: 'get maxWaitMs -1', call: (c) => c.get('/x', { maxWaitMs: -1 }), error: RangeError, has: ['`maxWaitMs`', '`-1` (number)'] },
  {
    name: 'get maxWaitMs NaN',
    call: (c) => c.get('/x', { maxWaitMs: Number.NaN }),
    error: RangeError,
    has: ['`maxWaitMs`', '`NaN` (number)'],
  },
  { name: 'get signal {}', call: (c) => c.get('/x', { signal: {} as never }), error: TypeError, has: ['`signal`', 'AbortSignal'] },
  {
    name: "get stream 'yes'",
    call: (c) => c.get('/x', { stream: 'yes' as never }),
    error: TypeError,
    has: ['`stream`', '`"yes"` (string)'],
  },
  {
    name: 'get throwHttpErrors null',
    call: (c) => c.get('/x', { throwHttpErrors: null as never }),
    error: TypeError,
    has: ['`throwHttpErrors`', '`null` (null)'],
  },
  // retry per request
  {
    name: 'get retry { retries: -1 }',
    call: (c) => c.get('/x', { retry: { retries: -1 } }),
    error: RangeError,
    has: ['`retry.retries`', '`-1` (number)'],
  },
  {
    name: "get retry 'no' (string)",
    call: (c) => c.get('/x', { retry: 'no' as never }),
    error: TypeError,
    has: ['`retry`', '`"no"` (string)'],
  },
  {
    name: 'get retry { minDelayMs: NaN }',
    call: (c) => c.get('/x', { retry: { minDelayMs: Number.NaN } }),
    error: RangeError,
    has: ['`retry.minDelayMs`'],
  },
  // headers: CR, LF, NUL; wrong types
  {
    name: 'get header authorization with CRLF',
    call: (c) => c.get('/x', { headers: { authorization: 'Bearer a\r\nx-b: 1' } }),
    error: TypeError,
    has: ['`authorization`', 'CR, LF or NUL'],
  },
  {
    name: 'get header cookie with CR',
    call: (c) => c.get('/x', { headers: { cookie: 'a\rb' } }),
    error: TypeError,
    has: ['`cookie`', 'CR, LF or NUL'],
  },
  {
    name: 'get header x-trace with NUL',
    call: (c) => c.get('/x', { headers: { 'x-trace': 'a\0' } }),
    error: TypeError,
    has: ['`x-trace`', 'CR, LF or NUL'],
  },
  {
    name: 'get header value null',
    call: (c) => c.get('/x', { headers: { 'x-a': null as never } }),
    error: TypeError,
    has: ['`x-a`', 'of type null'],
  },
  {
    name: 'get headers as an array',
    call: (c) => c.get('/x', { headers: [['x-a', '1']] as never }),
    error: TypeError,
    has: ['`headers`', '(array)'],
  },
  {
    name: 'post idempotencyKey with CRLF',
    call: (c) => c.post('/x', { idempotencyKey: 'k\r\nx-b: 1' }),
    error: TypeError,
    has: ['`idempotencyKey`'],
  },
  {
    name: 'post idempotencyKey 42',
    call: (c) => c.post('/x', { idempotencyKey: 42 as never }),
    error: TypeError,
    has: ['`idempotencyKey`'],
  },
  // conflicting arguments
  { name: 'conflict: get with a body', call: (c) => c.get('/x', { body: 'x' }), error: TypeError, has: ['GET', 'body'] },
  { name: 'conflict: head with json', call: (c) => c.head('/x', { json: { a: 1 } }), error: TypeError, has: ['HEAD', 'body'] },
  {
    name: 'conflict: retry.maxDelayMs below retry.minDelayMs per request',
    call: (c) => c.get('/x', { retry: { minDelayMs: 100, maxDelayMs: 1 } }),
    error: RangeError,
    has: ['`retry.maxDelayMs`', '`retry.minDelayMs`'],
  },
  // the options object, path, query, method
  { name: 'request(null)', call: (c) => c.request(null as never), error: TypeError, has: ['`options`', '`null` (null)'] },
  { name: 'request without path', call: (c) => c.request({} as never), error: TypeError, has: ['`path`', '`undefined` (undefined)'] },
  { name: 'get(undefined)', call: (c) => c.get(undefined as never), error: TypeError, has: ['`path`', '`undefined` (undefined)'] },
  {
    name: 'get a path leaving baseUrl (//evil.example/x)',
    call: (c) => c.get('//evil.example/x'),
    error: TypeError,
    has: ['`path`', '`baseUrl`'],
  },
  {
    name: "get query 'a=1' (string)",
    call: (c) => c.get('/x', { query: 'a=1' as never }),
    error: TypeError,
    has: ['`query`', '`"a=1"` (string)'],
  },
  {
    name: 'get query value a symbol',
    call: (c) => c.get('/x', { query: { a: Symbol('s') as never } }),
    error: TypeError,
    has: ['`query.a`', '(symbol)'],
  },
  {
    name: 'request method 42',
    call: (c) => c.request({ method: 42 as never, path: '/x' }),
    error: TypeError,
    has: ['`method`', '`42` (number)'],
  },
  // client.fetch: the limiter's part of it (init.rateLimit) and its signal
  {
    name: 'fetch rateLimit.weight 0',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: { weight: 0 } }),
    error: RangeError,
    has: ['`weight`', '`0` (number)'],
  },
  {
    name: 'fetch rateLimit.weight NaN',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: { weight: Number.NaN } }),
    error: RangeError,
    has: ['`weight`', '`NaN` (number)'],
  },
  {
    name: 'fetch rateLimit.weight 4 over the limit 3',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: { weight: 4 } }),
    error: RangeError,
    has: ['`weight`', '`limit`'],
  },
  {
    name: 'fetch rateLimit.weight 5 over concurrency 4',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: { weight: 5 } }),
    error: RangeError,
    has: ['`weight`', '`concurrency`'],
  },
  {
    name: 'fetch rateLimit.priority Infinity',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: { priority: Infinity } }),
    error: RangeError,
    has: ['`priority`', '`Infinity` (number)'],
  },
  {
    name: 'fetch rateLimit.maxWaitMs -1',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: { maxWaitMs: -1 } }),
    error: RangeError,
    has: ['`maxWaitMs`', '`-1` (number)'],
  },
  {
    name: 'fetch rateLimit 5 (number)',
    call: (c, at) => c.fetch(`${at}/x`, { rateLimit: 5 as never }),
    error: TypeError,
    has: ['`rateLimit`', '`5` (number)'],
  },
  {
    name: "fetch signal 'abort' (string)",
    call: (c, at) => c.fetch(`${at}/x`, { signal: 'abort' as never }),
    error: TypeError,
    has: ['`signal`'],
  },
  { name: 'fetch input null', call: (c) => c.fetch(null as never), error: TypeError, has: ['`input`', '`null` (null)'] },
  // client.fetch: what fetch itself refuses must be refused before it takes a place in the queue and a
  // slot of the windows (README: "Errors are fetch's own", so any message naming the problem will do)
  { name: "fetch input 'not a url'", call: (c) => c.fetch('not a url'), error: TypeError, has: [/url/i] },
  {
    name: 'fetch init.headers with CR/LF',
    call: (c, at) => c.fetch(`${at}/x`, { headers: { authorization: 'a\r\nb' } }),
    error: TypeError,
    has: [/header/i],
  },
  // schedule(): what the unit table leaves out
  {
    name: 'schedule weight NaN',
    call: (c) => c.schedule(task, { weight: Number.NaN }),
    error: RangeError,
    has: ['`weight`', '`NaN` (number)'],
  },
  {
    name: 'schedule weight Infinity',
    call: (c) => c.schedule(task, { weight: Infinity }),
    error: RangeError,
    has: ['`weight`', '`Infinity` (number)'],
  },
  {
    name: 'schedule weight null',
    call: (c) => c.schedule(task, { weight: null as never }),
    error: TypeError,
    has: ['`weight`', '`null` (null)'],
  },
  {
    name: 'schedule priority null',
    call: (c) => c.schedule(task, { priority: null as never }),
    error: TypeError,
    has: ['`priority`', '`null` (null)'],
  },
  {
    name: 'schedule timeoutMs -Infinity',
    call: (c) => c.schedule(task, { timeoutMs: -Infinity }),
    error: RangeError,
    has: ['`timeoutMs`', '`-Infinity` (number)'],
  },
  {
    name: 'schedule maxWaitMs -Infinity',
    call: (c) => c.schedule(task, { maxWaitMs: -Infinity }),
    error: RangeError,
    has: ['`maxWaitMs`', '`-Infinity` (number)'],
  },
  {
    name: "schedule maxWaitMs '5' (string)",
    call: (c) => c.schedule(task, { maxWaitMs: '5' as never }),
    error: TypeError,
    has: ['`maxWaitMs`', '`"5"` (string)'],
  },
  { name: 'schedule options []', call: (c) => c.schedule(task, [] as never), error: TypeError, has: ['`options`', '(array)'] },
];

describe('per-request arguments: a rejected promise, nothing queued, nothing sent', () => {
  /**
   * A paused client holding one valid queued request; the bad call must change none of its counters,
   * and after resume() the server must see only the valid request.
   */
  it.each(requestCases)('$name', async (c) => {
    const { client, id, at } = makeClient();
    const runsBefore = taskRuns.count;
    client.pause();
    const valid = client.get('/valid');
    const snapshot = client.stats();
    expect(snapshot).toMatchObject({ submitted: 1, queued: 1 });

    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = c.call(client, at);
    }, 'threw synchronously instead of rejecting').not.toThrow();
    expect(promise).toBeInstanceOf(Promise);
    const settled = (promise as Promise<unknown>).then(
      (value) => ({ resolved: value }),
      (error: unknown) => ({ rejected: error }),
    );
    try {
      // Nothing queued or counted, at once.
      const now = client.stats();
      expect(now.submitted, 'stats().submitted changed: the bad call was queued').toBe(snapshot.submitted);
      expect(now.queued, 'stats().queued changed').toBe(snapshot.queued);
      expect(now.blocked).toBe(snapshot.blocked);
      expect(now.inFlight).toBe(0);
      expect(hitsAt(id)).toBe(0);
    } finally {
      client.resume();
    }
    const outcome = await settled;
    expect(outcome, 'the bad call resolved').toHaveProperty('rejected');
    expectError((outcome as { rejected: unknown }).rejected, c, c.name);
    await valid;
    await client.onIdle();
    // The server saw the valid request only, the task never ran, and no slot of any window was used
    // by the bad call.
    expect(hitsAt(id), 'requests the server received').toBe(1);
    expect(taskRuns.count).toBe(runsBefore);
    const after = client.stats();
    expect(after).toMatchObject({ submitted: 1, completed: 1, failed: 0, queued: 0, inFlight: 0 });
    expect(after.windows.map((w) => w.used)).toEqual([1, 1]);
    await client.close();
  });
});

describe('other async methods: a rejected promise naming the argument, and the client goes on', () => {
  const cases: CallCase[] = [
    { name: 'onSizeLessThan(NaN)', call: (c) => c.onSizeLessThan(Number.NaN), error: RangeError, has: ['`size`', '`NaN` (number)'] },
    { name: 'onSizeLessThan(-1)', call: (c) => c.onSizeLessThan(-1), error: RangeError, has: ['`size`', '`-1` (number)'] },
    { name: 'onSizeLessThan(null)', call: (c) => c.onSizeLessThan(null as never), error: TypeError, has: ['`size`', '`null` (null)'] },
    {
      name: 'onSizeLessThan()',
      call: (c) => (c.onSizeLessThan as () => Promise<void>)(),
      error: TypeError,
      has: ['`size`', '`undefined` (undefined)'],
    },
    { name: 'close(null)', call: (c) => c.close(null as never), error: TypeError, has: ['`options`', '`null` (null)'] },
    { name: 'close({ drain: 0 })', call: (c) => c.close({ drain: 0 as never }), error: TypeError, has: ['`drain`', '`0` (number)'] },
    { name: 'close({ drain: null })', call: (c) => c.close({ drain: null as never }), error: TypeError, has: ['`drain`', '`null` (null)'] },
    // A typo must not be ignored: `close({ drian: false })` would otherwise drain (and close) instead.
    { name: 'close({ drian: false }) (typo)', call: (c) => c.close({ drian: false } as never), error: TypeError, has: ['`drian`'] },
  ];

  it.each(cases)('$name', async (c) => {
    const { client, at } = makeClient();
    client.pause();
    const queued = client.schedule(task);
    const snapshot = client.stats();
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = c.call(client, at);
    }, 'threw synchronously instead of rejecting').not.toThrow();
    const outcome = await (promise as Promise<unknown>).then(
      (value) => ({ resolved: value }),
      (error: unknown) => ({ rejected: error }),
    );
    expect(outcome, 'the bad call resolved (it was accepted)').toHaveProperty('rejected');
    expectError((outcome as { rejected: unknown }).rejected, c, c.name);
    // Nothing changed, and the client is not closed: it still takes work.
    expect(client.stats()).toEqual(snapshot);
    expect(client.isPaused).toBe(true);
    client.resume();
    await expect(queued).resolves.toBe('ran');
    await expect(client.schedule(task)).resolves.toBe('ran');
    await client.close();
  });
});

// ---------------------------------------------------------------------------------------------------
// Setters: synchronous, and nothing changes.

describe('setConcurrency() and setRateLimit(): a synchronous TypeError or RangeError naming the argument; nothing changes', () => {
  interface SetterCase extends Expectation {
    name: string;
    call: (client: RateLimitedClient) => unknown;
  }
  const cases: SetterCase[] = [
    { name: 'setConcurrency(NaN)', call: (c) => c.setConcurrency(Number.NaN), error: RangeError, has: ['`concurrency`', '`NaN` (number)'] },
    {
      name: 'setConcurrency(Infinity)',
      call: (c) => c.setConcurrency(Infinity),
      error: RangeError,
      has: ['`concurrency`', '`Infinity` (number)'],
    },
    { name: 'setConcurrency(-1)', call: (c) => c.setConcurrency(-1), error: RangeError, has: ['`concurrency`', '`-1` (number)'] },
    { name: 'setConcurrency(2.5)', call: (c) => c.setConcurrency(2.5), error: RangeError, has: ['`concurrency`', '`2.5` (number)'] },
    {
      name: 'setConcurrency(null)',
      call: (c) => c.setConcurrency(null as never),
      error: TypeError,
      has: ['`concurrency`', '`null` (null)'],
    },
    {
      name: 'setConcurrency()',
      call: (c) => (c.setConcurrency as () => void)(),
      error: TypeError,
      has: ['`concurrency`', '`undefined` (undefined)'],
    },
    { name: 'setRateLimit(null)', call: (c) => c.setRateLimit(null as never), error: TypeError, has: ['`rateLimit`', '`null` (null)'] },
    { name: 'setRateLimit(5)', call: (c) => c.setRateLimit(5 as never), error: TypeError, has: ['`rateLimit`', '`5` (number)'] },
    {
      name: 'setRateLimit({ limit: NaN })',
      call: (c) => c.setRateLimit({ limit: Number.NaN, windowMs: 10 }),
      error: RangeError,
      has: ['`rateLimit.limit`', '`NaN` (number)'],
    },
    {
      name: 'setRateLimit({ limit: Infinity })',
      call: (c) => c.setRateLimit({ limit: Infinity, windowMs: 10 }),
      error: RangeError,
      has: ['`rateLimit.limit`', '`Infinity` (number)'],
    },
    {
      name: 'setRateLimit({ limit: -3 })',
      call: (c) => c.setRateLimit({ limit: -3, windowMs: 10 }),
      error: RangeError,
      has: ['`rateLimit.limit`', '`-3` (number)'],
    },
    {
      name: 'setRateLimit({ windowMs: Infinity })',
      call: (c) => c.setRateLimit({ limit: 1, windowMs: Infinity }),
      error: RangeError,
      has: ['`rateLimit.windowMs`', '`Infinity` (number)'],
    },
    {
      name: "setRateLimit({ windowMs: '1s' })",
      call: (c) => c.setRateLimit({ limit: 1, windowMs: '1s' as never }),
      error: TypeError,
      has: ['`rateLimit.windowMs`', '`"1s"` (string)'],
    },
    {
      name: "setRateLimit([ok, 'x'])",
      call: (c) => c.setRateLimit([W, 'x' as never]),
      error: TypeError,
      has: ['`rateLimit[1]`', '`"x"` (string)'],
    },
    {
      name: 'setRateLimit unknown key',
      call: (c) => c.setRateLimit({ limit: 1, windowMs: 10, bursts: 1 } as never),
      error: TypeError,
      has: ['`rateLimit.bursts`'],
    },
  ];

  it.each(cases)('$name', async (c) => {
    const { client } = makeClient();
    client.pause();
    const queued = client.schedule(task, { weight: 3 });
    const snapshot = client.stats();
    expectError(
      thrownBy(() => c.call(client)),
      c,
      c.name,
    );
    expect(client.stats()).toEqual(snapshot);
    // The limits in force are the old ones: weight 4 is still too heavy (window of 3), 3 still fits.
    await expect(client.schedule(task, { weight: 4 })).rejects.toThrow(RangeError);
    client.resume();
    await expect(queued).resolves.toBe('ran');
    await client.close();
  });

  it('weights over a limit after a setter: refused at submission, and a queued task that no longer fits rejects with a RangeError', async () => {
    const client = new RateLimitedClient({ concurrency: 8, rateLimit: { limit: 8, windowMs: 1_000 } });
    client.pause();
    const heavy = client.schedule(task, { weight: 6 });
    const light = client.schedule(task, { weight: 2 });
    client.setRateLimit({ limit: 5, windowMs: 1_000 });
    await expect(heavy).rejects.toThrow(RangeError);
    await expect(heavy.catch((e: Error) => e.message)).resolves.toMatch(/`weight`.*at most 5/);
    client.setConcurrency(2);
    await expect(client.schedule(task, { weight: 3 })).rejects.toThrow(/`weight`.*at most 2.*`concurrency`/);
    client.resume();
    await expect(light).resolves.toBe('ran');
    expect(client.stats()).toMatchObject({ submitted: 2, completed: 1, failed: 1, queued: 0 });
    await client.close();
  });
});

// ---------------------------------------------------------------------------------------------------
// The undici interceptor.

describe('rateLimit(client, options): the interceptor', () => {
  const client = new RateLimitedClient({ concurrency: 4, rateLimit: { limit: 3, windowMs: 60_000 } });

  it.each([
    { name: 'client {}', call: () => rateLimit({} as never), error: TypeError, has: ['`client`'] },
    { name: 'client undefined', call: () => rateLimit(undefined as never), error: TypeError, has: ['`client`', '`undefined` (undefined)'] },
    {
      name: 'priority NaN',
      call: () => rateLimit(client, { priority: Number.NaN }),
      error: RangeError,
      has: ['`priority`', '`NaN` (number)'],
    },
    {
      name: 'priority Infinity',
      call: () => rateLimit(client, { priority: Infinity }),
      error: RangeError,
      has: ['`priority`', '`Infinity` (number)'],
    },
    {
      name: "priority 'high'",
      call: () => rateLimit(client, { priority: 'high' as never }),
      error: TypeError,
      has: ['`priority`', '`"high"` (string)'],
    },
    { name: 'weight 0', call: () => rateLimit(client, { weight: 0 }), error: RangeError, has: ['`weight`', '`0` (number)'] },
    { name: 'weight -1', call: () => rateLimit(client, { weight: -1 }), error: RangeError, has: ['`weight`', '`-1` (number)'] },
    { name: 'weight 1.5', call: () => rateLimit(client, { weight: 1.5 }), error: RangeError, has: ['`weight`', '`1.5` (number)'] },
    { name: 'options null', call: () => rateLimit(client, null as never), error: TypeError, has: ['`options`', '`null` (null)'] },
    { name: 'unknown option', call: () => rateLimit(client, { weigth: 1 } as never), error: TypeError, has: ['`weigth`'] },
  ] satisfies Array<Expectation & { name: string; call: () => unknown }>)('$name: a synchronous error', (c) => {
    expectError(thrownBy(c.call), c, c.name);
  });

  it.each([
    { name: 'a weight over the window limit', weight: () => 4, error: RangeError, has: ['`weight`', 'at most 3'] },
    { name: 'a weight over concurrency', weight: () => 5, error: RangeError, has: ['`weight`', '`concurrency`'] },
    { name: 'a weight of NaN', weight: () => Number.NaN, error: RangeError, has: ['`weight`', '`NaN` (number)'] },
    { name: "a weight of '1'", weight: () => '1' as never, error: TypeError, has: ['`weight`', '`"1"` (string)'] },
  ])('$name from a weight function: the request fails with it, nothing queued, nothing sent', async (c) => {
    const agent = new Agent();
    const dispatcher = agent.compose(rateLimit(client, { weight: c.weight }));
    const before = client.stats();
    const id = `i${nextId++}`;
    const error = await undiciRequest(`${base}/${id}/x`, { dispatcher }).then(
      () => expect.fail('the request was sent'),
      (e: unknown) => e,
    );
    expectError(error, c, c.name);
    expect(client.stats().submitted).toBe(before.submitted);
    expect(client.stats().queued).toBe(0);
    expect(hitsAt(id)).toBe(0);
    await agent.close();
  });
});

// ---------------------------------------------------------------------------------------------------
// RedisStore: validates without connecting (a fake ioredis stands in where a valid one is needed; fake
// node-redis clients and clusters where the case is about them).

function fakeRedis() {
  return {
    status: 'ready',
    evalsha: vi.fn(async () => null),
    eval: vi.fn(async () => null),
    duplicate: vi.fn(),
    on: vi.fn(),
    off: vi.fn(),
    subscribe: vi.fn(async () => 1),
    unsubscribe: vi.fn(async () => 1),
    disconnect: vi.fn(),
  };
}

/** The members of a node-redis client the store checks for (`createClient()`), as mocks. */
function fakeNodeRedis() {
  return {
    isOpen: true,
    isReady: true,
    evalSha: vi.fn(async () => null),
    eval: vi.fn(async () => null),
    duplicate: vi.fn(),
    connect: vi.fn(async () => undefined),
    subscribe: vi.fn(async () => undefined),
    unsubscribe: vi.fn(async () => undefined),
    destroy: vi.fn(),
    on: vi.fn(),
    off: vi.fn(),
  };
}

/** A node-redis cluster (`createCluster()`): a client's members, `getSlotMaster`, and its options. */
function fakeNodeRedisCluster(keyPrefix?: string) {
  return { ...fakeNodeRedis(), getSlotMaster: vi.fn(), _options: { rootNodes: [], keyPrefix } };
}

/** An ioredis `Cluster`: `isCluster`, and its options. */
function fakeIORedisCluster(keyPrefix?: string) {
  return { ...fakeRedis(), isCluster: true, options: { keyPrefix } };
}

/** Every mock of `fakes`' objects has been left uncalled. */
function expectUntouched(...fakes: object[]): void {
  for (const fake of fakes) {
    for (const [name, method] of Object.entries(fake)) {
      if (vi.isMockFunction(method)) expect(method, `redis.${name}`).not.toHaveBeenCalled();
    }
  }
}

describe('RedisStore options: a synchronous TypeError or RangeError naming the option, without touching Redis', () => {
  const redis = fakeRedis();
  const SUPPORTED = ['ioredis 5 or 6', 'iovalkey', 'node-redis 5 or newer', '`createClient()`', '`createCluster()`'];
  interface StoreCase extends Expectation {
    name: string;
    options: unknown;
  }
  const ok = { redis, key: 'api' };
  const cases: StoreCase[] = [
    { name: 'options undefined', options: undefined, error: TypeError, has: ['`options`', '`undefined` (undefined)'] },
    { name: "options 'redis://localhost' (string)", options: 'redis://localhost', error: TypeError, has: ['`options`', '(string)'] },
    { name: 'redis missing', options: { key: 'api' }, error: TypeError, has: ['`redis`', ...SUPPORTED, '`undefined` (undefined)'] },
    {
      name: "redis 'redis://localhost' (a URL, not a client)",
      options: { redis: 'redis://localhost', key: 'api' },
      error: TypeError,
      has: ['`redis`', ...SUPPORTED, '`"redis://localhost"` (string)', 'not a URL'],
    },
    {
      name: 'redis {} (no methods)',
      options: { redis: {}, key: 'api' },
      error: TypeError,
      has: ['`redis`', ...SUPPORTED, "got an object with neither ioredis's `evalsha` nor node-redis's `evalSha`"],
    },
    {
      name: 'redis without evalsha',
      options: { redis: { ...fakeRedis(), evalsha: undefined }, key: 'api' },
      error: TypeError,
      has: ['`redis`', "with some of an ioredis client's members but not `evalsha`"],
    },
    {
      name: 'redis a node-redis client without isOpen (node-redis 4 has it; not a client)',
      options: { redis: { ...fakeNodeRedis(), isOpen: undefined }, key: 'api' },
      error: TypeError,
      has: ['`redis`', "with some of a node-redis client's members but not `isOpen`"],
    },
    {
      name: 'redis a node-redis client without destroy (node-redis 4)',
      options: { redis: { ...fakeNodeRedis(), destroy: undefined }, key: 'api' },
      error: TypeError,
      has: ['`redis`', 'node-redis 5 or newer', "a node-redis client's members but not `destroy`"],
    },
    {
      name: 'redis an instance of another class',
      options: {
        redis: new (class Memcached {
          get() {}
        })(),
        key: 'api',
      },
      error: TypeError,
      has: ['`redis`', 'an instance of `Memcached`'],
    },
    {
      name: 'redis a Promise (`createClient().connect()` not awaited)',
      options: { redis: Promise.resolve(fakeNodeRedis()), key: 'api' },
      error: TypeError,
      has: ['`redis`', 'got a Promise'],
    },
    {
      name: 'redis the node-redis module',
      options: { redis: { createClient() {}, createCluster() {} }, key: 'api' },
      error: TypeError,
      has: ['`redis`', 'got the node-redis module', '`createClient()`'],
    },
    {
      name: 'redis a class (ioredis `Redis` itself)',
      options: {
        redis: class Redis {
          connect() {}
        },
        key: 'api',
      },
      error: TypeError,
      has: ['`redis`', '`function Redis` (function)', 'not its class'],
    },
    {
      name: "an ioredis Cluster whose keyPrefix '{}app:' breaks the hash tag",
      options: { redis: fakeIORedisCluster('{}app:'), key: 'api' },
      error: TypeError,
      has: ['`redis`', 'Redis Cluster', 'keyPrefix `"{}app:"` (string)', '`{}app:rlc:{api}:log`', 'CROSSSLOT'],
    },
    {
      name: "a node-redis cluster whose keyPrefix '{}' breaks the hash tag",
      options: { redis: fakeNodeRedisCluster('{}'), key: 'api' },
      error: TypeError,
      has: ['`redis`', 'Redis Cluster', 'keyPrefix `"{}"` (string)', 'CROSSSLOT'],
    },
    { name: 'key missing', options: { redis }, error: TypeError, has: ['`key`', '`undefined` (undefined)'] },
    { name: "key ''", options: { ...ok, key: '' }, error: RangeError, has: ['`key`', '`""` (string)'] },
    { name: "key 'a{b}' (a hash tag)", options: { ...ok, key: 'a{b}' }, error: TypeError, has: ['`key`', 'hash tag', '`"a{b}"` (string)'] },
    { name: "key '}' (a brace alone)", options: { ...ok, key: '}' }, error: TypeError, has: ['`key`', '`"}"` (string)'] },
    {
      name: "key 'a{b}' for a node-redis client",
      options: { redis: fakeNodeRedis(), key: 'a{b}' },
      error: TypeError,
      has: ['`key`', '`"a{b}"` (string)'],
    },
    { name: 'key 42', options: { ...ok, key: 42 }, error: TypeError, has: ['`key`', '`42` (number)'] },
    {
      name: "failureMode 'fail-open'",
      options: { ...ok, failureMode: 'fail-open' },
      error: RangeError,
      has: ['`failureMode`', '`"fail-open"` (string)'],
    },
    { name: 'failureMode 1', options: { ...ok, failureMode: 1 }, error: TypeError, has: ['`failureMode`', '`1` (number)'] },
    { name: 'safetyMarginMs -1', options: { ...ok, safetyMarginMs: -1 }, error: RangeError, has: ['`safetyMarginMs`', '`-1` (number)'] },
    {
      name: 'safetyMarginMs NaN',
      options: { ...ok, safetyMarginMs: Number.NaN },
      error: RangeError,
      has: ['`safetyMarginMs`', '`NaN` (number)'],
    },
    {
      name: 'safetyMarginMs Infinity',
      options: { ...ok, safetyMarginMs: Infinity },
      error: RangeError,
      has: ['`safetyMarginMs`', '`Infinity` (number)'],
    },
    {
      name: "safetyMarginMs '20'",
      options: { ...ok, safetyMarginMs: '20' },
      error: TypeError,
      has: ['`safetyMarginMs`', '`"20"` (string)'],
    },
    { name: 'leaseTtlMs 0', options: { ...ok, leaseTtlMs: 0 }, error: RangeError, has: ['`leaseTtlMs`', '`0` (number)'] },
    { name: 'leaseTtlMs 1.5', options: { ...ok, leaseTtlMs: 1.5 }, error: RangeError, has: ['`leaseTtlMs`', '`1.5` (number)'] },
    {
      name: 'leaseTtlMs Infinity',
      options: { ...ok, leaseTtlMs: Infinity },
      error: RangeError,
      has: ['`leaseTtlMs`', '`Infinity` (number)'],
    },
    { name: "leaseTtlMs '10000'", options: { ...ok, leaseTtlMs: '10000' }, error: TypeError, has: ['`leaseTtlMs`', '`"10000"` (string)'] },
    { name: 'commandTimeoutMs 0', options: { ...ok, commandTimeoutMs: 0 }, error: RangeError, has: ['`commandTimeoutMs`', '`0` (number)'] },
    {
      name: 'commandTimeoutMs -5',
      options: { ...ok, commandTimeoutMs: -5 },
      error: RangeError,
      has: ['`commandTimeoutMs`', '`-5` (number)'],
    },
    {
      name: 'commandTimeoutMs NaN',
      options: { ...ok, commandTimeoutMs: Number.NaN },
      error: RangeError,
      has: ['`commandTimeoutMs`', '`NaN` (number)'],
    },
    {
      name: 'commandTimeoutMs Infinity',
      options: { ...ok, commandTimeoutMs: Infinity },
      error: RangeError,
      has: ['`commandTimeoutMs`', '`Infinity` (number)'],
    },
    {
      name: 'commandTimeoutMs null',
      options: { ...ok, commandTimeoutMs: null },
      error: TypeError,
      has: ['`commandTimeoutMs`', '`null` (null)'],
    },
    { name: 'clientTtlMs 0', options: { ...ok, clientTtlMs: 0 }, error: RangeError, has: ['`clientTtlMs`', '`0` (number)'] },
    {
      name: 'clientTtlMs -60000',
      options: { ...ok, clientTtlMs: -60_000 },
      error: RangeError,
      has: ['`clientTtlMs`', '`-60000` (number)'],
    },
    { name: 'unknown option keyPrefix', options: { ...ok, keyPrefix: 'x' }, error: TypeError, has: ['`keyPrefix`'] },
  ];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(cases)('$name', (c) => {
    for (const method of Object.values(redis)) if (typeof method === 'function') method.mockClear();
    expectError(
      thrownBy(() => new RedisStore(c.options as never)),
      c,
      c.name,
    );
    // Nothing half-built: no command sent, no listener added, no subscriber made, no timer started.
    const given = (c.options as { redis?: unknown } | undefined)?.redis;
    expectUntouched(redis, ...(typeof given === 'object' && given !== null ? [given] : []));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('every client shape is accepted without touching it, clusters with a keyPrefix that keeps one hash tag too', () => {
    const accepted = [
      fakeNodeRedis(),
      { ...fakeNodeRedis(), isOpen: false, isReady: false }, // connected later: see the not-connected rule
      fakeNodeRedisCluster(),
      fakeNodeRedisCluster('app:'),
      fakeNodeRedisCluster('{app}:'), // every key then hashes by `app`: one slot still
      fakeNodeRedisCluster('{'), // the store's `}` closes it: `{rlc:{api` is the tag of every key
      fakeIORedisCluster(),
      fakeIORedisCluster('{app}'),
      { ...fakeRedis(), options: { keyPrefix: '{}' } }, // not a cluster: slots do not matter
      { ...fakeNodeRedis(), _options: { keyPrefix: '{}' } },
    ];
    for (const client of accepted) {
      expect(() => new RedisStore({ redis: client, key: 'api' }), JSON.stringify(client)).not.toThrow();
      expectUntouched(client);
    }
    expect(vi.getTimerCount()).toBe(0);
  });

  it('valid options next to the refused ones are accepted, still without touching Redis', () => {
    for (const method of Object.values(redis)) if (typeof method === 'function') method.mockClear();
    expect(
      () =>
        new RedisStore({
          redis,
          key: 'a:b-c',
          failureMode: 'closed',
          safetyMarginMs: 0,
          leaseTtlMs: 1,
          commandTimeoutMs: 0.5,
          clientTtlMs: 1,
        }),
    ).not.toThrow();
    for (const method of Object.values(redis)) if (typeof method === 'function') expect(method).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a client refused for another option leaves the RedisStore given beside it unopened and free', () => {
    const own = fakeRedis();
    const store = new RedisStore({ redis: own, key: 'api' });
    expect(() => new RateLimitedClient({ store, concurrency: 0 })).toThrow(RangeError);
    expect(() => new RateLimitedClient({ store, timeoutMs: -1 })).toThrow(RangeError);
    expect(own.on).not.toHaveBeenCalled();
    expect(() => new RateLimitedClient({ store })).not.toThrow();
    expect(own.on).toHaveBeenCalledWith('ready', expect.any(Function));
    // A RedisStore serves one client too.
    expect(() => new RateLimitedClient({ store })).toThrow(/`store`/);
  });
});
