import { describe, expect, it } from 'vitest';
import { RateLimitedClient } from '../../../src/index.js';

describe('HTTP options: a bad value throws in the constructor, naming the option', () => {
  it.each([
    ['baseUrl 42', { baseUrl: 42 }, TypeError, '`baseUrl`'],
    ['baseUrl not a URL', { baseUrl: 'api.example.com' }, TypeError, '`baseUrl`'],
    ['baseUrl ftp', { baseUrl: 'ftp://x' }, TypeError, 'http or https'],
    ['transport curl', { transport: 'curl' }, RangeError, "Expected `transport` to be one of 'fetch', 'undici', got `\"curl\"` (string)"],
    ['transport 1', { transport: 1 }, TypeError, '`transport`'],
    ['dispatcher {}', { dispatcher: {} }, TypeError, '`dispatcher`'],
    ['allowAbsoluteUrls "yes"', { allowAbsoluteUrls: 'yes' }, TypeError, '`allowAbsoluteUrls`'],
    ['secretHeaders "x"', { secretHeaders: 'x' }, TypeError, '`secretHeaders`'],
    ['timeoutMs 0', { timeoutMs: 0 }, RangeError, 'Expected `timeoutMs` to be a number > 0 (Infinity for none), got `0` (number)'],
    ['timeoutMs NaN', { timeoutMs: Number.NaN }, RangeError, '`timeoutMs`'],
    ['headers array', { headers: ['a'] }, TypeError, '`headers`'],
    ['header with CRLF', { headers: { 'x-a': 'v\r\nx-b: 1' } }, TypeError, 'Header `x-a` in `headers` contains CR, LF or NUL'],
    ['header value object', { headers: { 'x-a': {} } }, TypeError, 'header `x-a`'],
  ])('%s', (_name, options, kind, message) => {
    expect(() => new RateLimitedClient(options as never)).toThrow(kind);
    expect(() => new RateLimitedClient(options as never)).toThrow(message);
  });
});

describe('request arguments: a bad value rejects the promise, nothing is sent or queued', () => {
  const client = new RateLimitedClient({ baseUrl: 'http://127.0.0.1:9' });
  it.each([
    ['path 42', () => client.get(42 as never), TypeError, '`path`'],
    ['query array', () => client.get('/x', { query: [1] as never }), TypeError, '`query`'],
    ['query value object', () => client.get('/x', { query: { a: {} as never } }), TypeError, '`query.a`'],
    ['body object', () => client.post('/x', { body: {} as never }), TypeError, '`body`'],
    ['json and body', () => client.post('/x', { json: 1, body: 'x' }), TypeError, 'either `json` or `body`'],
    ['throwHttpErrors "no"', () => client.get('/x', { throwHttpErrors: 'no' as never }), TypeError, '`throwHttpErrors`'],
    ['unknown option', () => client.get('/x', { retries: 3 } as never), TypeError, 'Unknown option `retries`'],
    ['priority NaN', () => client.get('/x', { priority: Number.NaN }), RangeError, '`priority`'],
    ['weight 0', () => client.get('/x', { weight: 0 }), RangeError, '`weight`'],
    ['method BREW', () => client.request({ method: 'BREW' as never, path: '/x' }), TypeError, '`method`'],
    ['header with LF', () => client.get('/x', { headers: { 'x-a': 'a\nb' } }), TypeError, 'contains CR, LF or NUL'],
    ['idempotencyKey ""', () => client.post('/x', { idempotencyKey: '' }), TypeError, '`idempotencyKey`'],
    ['fetch input 42', () => client.fetch(42 as never), TypeError, '`input`'],
    ['fetch rateLimit typo', () => client.fetch('http://127.0.0.1:9/x', { rateLimit: { prio: 1 } as never }), TypeError, 'rateLimit.prio'],
  ])('%s', async (_name, call, kind, message) => {
    let sync: unknown;
    let promise: Promise<unknown> | undefined;
    try {
      promise = call();
    } catch (error) {
      sync = error;
    }
    expect(sync).toBeUndefined();
    const error = await promise?.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(kind);
    expect((error as Error).message).toContain(message);
    expect(client.stats()).toMatchObject({ submitted: 0, queued: 0, inFlight: 0 });
  });
});
