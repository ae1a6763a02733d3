import { describe, expect, it } from 'vitest';
import { RawHeaders } from '../../../src/http/raw-headers.js';
import { mentionsLimits, readServerLimits } from '../../../src/retry/rate-limit-headers.js';

/** Header lines as undici hands them to a handler: names as the server wrote them, values as bytes. */
function lines(pairs: Array<[string, string]>): Buffer[] {
  return pairs.flatMap(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')]);
}

describe('RawHeaders: a fetch response’s raw header lines read in place', () => {
  const pairs: Array<[string, string]> = [
    ['Content-Type', 'application/json'],
    ['Set-Cookie', 'a=1'],
    ['set-cookie', 'b=2'],
    ['X-RateLimit-Remaining', '7'],
    ['X-RateLimit-Reset', '30'],
    ['X-Name', 'caf\u00e9'],
  ];

  it('gets a header as Headers#get would: any case of name, repeated values joined, absent as null', () => {
    const headers = new RawHeaders(lines(pairs));
    const web = new Headers(pairs);
    for (const name of ['content-type', 'set-cookie', 'x-ratelimit-remaining', 'x-name', 'location', 'constructor']) {
      expect(headers.get(name)).toBe(web.get(name));
    }
  });

  it('lists lower-case names, once per line', () => {
    expect([...new RawHeaders(lines(pairs)).keys()]).toEqual([
      'content-type',
      'set-cookie',
      'set-cookie',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
      'x-name',
    ]);
    expect([...new RawHeaders([]).keys()]).toEqual([]);
  });

  it('reads rate-limit headers as Headers would, and sees when none is there', () => {
    const now = Date.now();
    expect(readServerLimits(new RawHeaders(lines(pairs)), now)).toEqual(readServerLimits(new Headers(pairs), now));
    expect(readServerLimits(new RawHeaders(lines(pairs)), now)).toMatchObject({ remaining: 7, resetMs: 30_000 });
    expect(mentionsLimits(new RawHeaders(lines([['Date', 'x']])))).toBe(false);
    expect(mentionsLimits(new RawHeaders(lines([['Retry-After', '1']])))).toBe(true);
  });

  it('takes string lines too', () => {
    expect(new RawHeaders(['Retry-After', '2']).get('retry-after')).toBe('2');
  });
});
