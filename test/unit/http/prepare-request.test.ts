import { describe, expect, it } from 'vitest';
import { normalizeBaseUrl, prepareRequest, resolveUrl } from '../../../src/http/prepare-request.js';

const base = new URL('https://api.example.com/v1');

describe('resolveUrl', () => {
  it.each([
    ['/users/42', 'https://api.example.com/v1/users/42'],
    ['users/42', 'https://api.example.com/v1/users/42'],
    ['/users/42?x=1', 'https://api.example.com/v1/users/42?x=1'],
    ['/a/../b', 'https://api.example.com/v1/b'],
    ['', 'https://api.example.com/v1/'],
  ])('joins %j to the base path', (path, expected) => {
    expect(resolveUrl(path, base, false).href).toBe(expected);
  });

  it.each([
    '//evil.example/x',
    'http://evil.example/',
    'HTTPS://api.example.com/v1/x',
    'javascript:alert(1)',
    '\\\\evil.example',
    '/../admin',
    '/%2E%2E/admin',
    '/./../admin',
  ])('refuses %j, which leaves baseUrl', (path) => {
    expect(() => resolveUrl(path, base, false)).toThrow(TypeError);
  });

  it('lets a full URL through only with allowAbsoluteUrls, and only http(s)', () => {
    expect(resolveUrl('https://other.example/x', base, true).href).toBe('https://other.example/x');
    expect(() => resolveUrl('ftp://other.example/x', base, true)).toThrow(/http or https/);
    expect(resolveUrl('https://other.example/x', undefined, false).href).toBe('https://other.example/x');
    expect(() => resolveUrl('/relative', undefined, false)).toThrow(/absolute http\(s\) URL when the client has no `baseUrl`/);
  });

  it('checks baseUrl itself', () => {
    expect(() => normalizeBaseUrl('ftp://x')).toThrow(TypeError);
    expect(() => normalizeBaseUrl('https://x/?q=1')).toThrow(/without a query/);
    expect(() => normalizeBaseUrl(42)).toThrow('Expected `baseUrl` to be a URL string or URL, got `42` (number)');
  });
});

describe('prepareRequest', () => {
  const defaults = { baseUrl: base, headers: { authorization: 'Bearer SECRET' }, allowAbsoluteUrls: false };

  it('refuses header values with CR or LF without showing them', () => {
    for (const value of ['a\r\nx-injected: 1', 'a\nb', 'a\0b']) {
      let message = '';
      try {
        prepareRequest({ path: '/x', headers: { 'x-token': value } }, defaults);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe('Header `x-token` in `headers` contains CR, LF or NUL');
    }
    expect(() => prepareRequest({ path: '/x', headers: { 'bad name': 'v' } }, defaults)).toThrow(/Invalid header name/);
  });

  it('encodes json and bodies, and refuses both at once or a body on GET', () => {
    expect(prepareRequest({ method: 'post', path: '/x', json: [1] }, defaults)).toMatchObject({
      method: 'POST',
      body: '[1]',
      headers: { 'content-type': 'application/json', authorization: 'Bearer SECRET' },
    });
    expect(prepareRequest({ method: 'PUT', path: '/x', body: new URLSearchParams({ a: 'b' }) }, defaults).headers['content-type']).toMatch(
      /x-www-form-urlencoded/,
    );
    expect(() => prepareRequest({ method: 'POST', path: '/x', json: 1, body: 'x' }, defaults)).toThrow(/either `json` or `body`/);
    expect(() => prepareRequest({ path: '/x', body: 'x' }, defaults)).toThrow(/GET request can not have a body/);
    expect(() => prepareRequest({ method: 'BREW' as never, path: '/x' }, defaults)).toThrow(/`method`/);
  });

  it('sends an idempotency key as the Idempotency-Key header', () => {
    expect(prepareRequest({ method: 'POST', path: '/x', idempotencyKey: 'k-1' }, defaults).headers['idempotency-key']).toBe('k-1');
  });
});
