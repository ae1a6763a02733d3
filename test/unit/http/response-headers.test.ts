import { describe, expect, it } from 'vitest';
import { ResponseHeaders } from '../../../src/http/response-headers.js';
import { mentionsLimits, readServerLimits } from '../../../src/retry/rate-limit-headers.js';

describe('ResponseHeaders: undici raw headers read in place', () => {
  const raw = { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'x-ratelimit-remaining': '7', 'x-ratelimit-reset': '30' };

  it('gets a header as Headers#get would: repeated values joined, absent as null', () => {
    const headers = new ResponseHeaders(raw);
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('set-cookie')).toBe('a=1, b=2');
    expect(headers.get('location')).toBeNull();
  });

  it("does not take Object's prototype for headers", () => {
    const headers = new ResponseHeaders({});
    expect(headers.get('constructor')).toBeNull();
    expect(headers.get('__proto__')).toBeNull();
    expect(headers.get('tostring')).toBeNull();
  });

  it('makes WHATWG Headers once, with every value, and leaves out what Headers refuses', () => {
    const headers = new ResponseHeaders({ ...raw, 'x-bad': 'a\0b' });
    const web = headers.toHeaders();
    expect(headers.toHeaders()).toBe(web);
    expect(web.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(web.get('x-ratelimit-remaining')).toBe('7');
    expect(web.has('x-bad')).toBe(false);
  });

  it('reads rate-limit headers as Headers would, and sees when none is there', () => {
    const now = Date.now();
    expect(readServerLimits(new ResponseHeaders(raw), now)).toEqual(
      readServerLimits(new Headers(raw as unknown as Record<string, string>), now),
    );
    expect(readServerLimits(new ResponseHeaders(raw), now)).toMatchObject({ remaining: 7, resetMs: 30_000 });
    expect(mentionsLimits(new ResponseHeaders({ 'content-type': 'text/plain', date: 'x' }))).toBe(false);
    expect(mentionsLimits(new ResponseHeaders({ 'retry-after': '1' }))).toBe(true);
  });
});
