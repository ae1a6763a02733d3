import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EPOCH_SECONDS_THRESHOLD, readServerLimits, serverSaysRetry } from '../../../src/retry/rate-limit-headers.js';
import type { ResetMode, ServerLimits } from '../../../src/retry/rate-limit-headers.js';

/** 2025-01-01T00:00:00Z: every HTTP-date and epoch below is relative to it. */
const NOW = Date.UTC(2025, 0, 1);
const NOW_S = NOW / 1000;
const httpDate = (offsetMs: number): string => new Date(NOW + offsetMs).toUTCString();

interface WellFormed {
  name: string;
  headers: Record<string, string>;
  mode?: ResetMode;
  /** The client's GitHub resource (`adaptive.resource`); 'core' when absent. */
  resource?: string;
  expected: ServerLimits;
}

const wellFormed: WellFormed[] = [
  // Retry-After (RFC 9110) and retry-after-ms (OpenAI, Azure)
  { name: 'Retry-After delay seconds', headers: { 'Retry-After': '120' }, expected: { retryAfterMs: 120_000, sources: ['retry-after'] } },
  { name: 'Retry-After decimal seconds', headers: { 'Retry-After': '1.5' }, expected: { retryAfterMs: 1500, sources: ['retry-after'] } },
  { name: 'Retry-After 0', headers: { 'Retry-After': '0' }, expected: { retryAfterMs: 0, sources: ['retry-after'] } },
  { name: 'Retry-After negative is now', headers: { 'Retry-After': '-5' }, expected: { retryAfterMs: 0, sources: ['retry-after'] } },
  {
    name: 'Retry-After IMF-fixdate',
    headers: { 'Retry-After': httpDate(30_000) },
    expected: { retryAfterMs: 30_000, sources: ['retry-after'] },
  },
  {
    name: 'Retry-After date in the past is now',
    headers: { 'Retry-After': httpDate(-60_000) },
    expected: { retryAfterMs: 0, sources: ['retry-after'] },
  },
  {
    name: 'Retry-After RFC 850 date',
    headers: { 'Retry-After': 'Wednesday, 01-Jan-25 00:01:00 GMT' },
    expected: { retryAfterMs: 60_000, sources: ['retry-after'] },
  },
  {
    name: 'Retry-After asctime date (UTC)',
    headers: { 'Retry-After': 'Wed Jan  1 00:00:10 2025' },
    expected: { retryAfterMs: 10_000, sources: ['retry-after'] },
  },
  { name: 'retry-after-ms', headers: { 'retry-after-ms': '250' }, expected: { retryAfterMs: 250, sources: ['retry-after-ms'] } },
  {
    name: 'retry-after-ms wins over Retry-After',
    headers: { 'retry-after-ms': '1500', 'Retry-After': '2' },
    expected: { retryAfterMs: 1500, sources: ['retry-after-ms'] },
  },
  {
    name: 'a malformed retry-after-ms falls back to Retry-After',
    headers: { 'retry-after-ms': 'soon', 'Retry-After': '2' },
    expected: { retryAfterMs: 2000, sources: ['retry-after'] },
  },

  // IETF RateLimit and RateLimit-Policy
  {
    name: 'RateLimit draft-08+ String item',
    headers: { RateLimit: '"default";r=50;t=30' },
    expected: { remaining: 50, resetMs: 30_000, sources: ['ratelimit'] },
  },
  {
    name: 'RateLimit draft-08+ Token item',
    headers: { RateLimit: 'default;r=5;t=2' },
    expected: { remaining: 5, resetMs: 2000, sources: ['ratelimit'] },
  },
  { name: 'RateLimit without t', headers: { RateLimit: '"default";r=0' }, expected: { remaining: 0, sources: ['ratelimit'] } },
  {
    name: 'RateLimit with several policies keeps the lowest remaining',
    headers: { RateLimit: '"min";r=20;t=23, "hour";r=5;t=2402' },
    expected: { remaining: 5, resetMs: 2_402_000, sources: ['ratelimit'] },
  },
  {
    name: 'RateLimit draft-07 Dictionary',
    headers: { RateLimit: 'limit=100, remaining=50, reset=30' },
    expected: { remaining: 50, resetMs: 30_000, sources: ['ratelimit'] },
  },
  {
    name: 'RateLimit-Policy draft-08+',
    headers: { 'RateLimit-Policy': '"default";q=100;w=60' },
    expected: { policy: { limit: 100, windowMs: 60_000 }, sources: ['ratelimit-policy'] },
  },
  {
    name: 'RateLimit-Policy up to draft-07',
    headers: { 'RateLimit-Policy': '100;w=60' },
    expected: { policy: { limit: 100, windowMs: 60_000 }, sources: ['ratelimit-policy'] },
  },
  {
    name: 'RateLimit-Policy named by RateLimit is chosen',
    headers: { RateLimit: '"hour";r=5;t=100', 'RateLimit-Policy': '"min";q=50;w=60, "hour";q=1000;w=3600' },
    expected: { remaining: 5, resetMs: 100_000, policy: { limit: 1000, windowMs: 3_600_000 }, sources: ['ratelimit', 'ratelimit-policy'] },
  },
  {
    name: 'RateLimit-Policy in other units is skipped',
    headers: { 'RateLimit-Policy': '"bytes";q=1000;qu="content-bytes";w=1, "req";q=10;qu="requests";w=1' },
    expected: { policy: { limit: 10, windowMs: 1000 }, sources: ['ratelimit-policy'] },
  },
  {
    name: 'older RateLimit-Limit/-Remaining/-Reset',
    headers: { 'RateLimit-Limit': '100', 'RateLimit-Remaining': '7', 'RateLimit-Reset': '12' },
    expected: { remaining: 7, resetMs: 12_000, limit: 100, sources: ['ratelimit-remaining', 'ratelimit-reset', 'ratelimit-limit'] },
  },
  {
    name: 'X-RateLimit-Limit alone: a limit of unknown period',
    headers: { 'X-RateLimit-Limit': '5000' },
    expected: { limit: 5000, sources: ['x-ratelimit-limit'] },
  },
  {
    name: 'bare RateLimit-Limit: a limit of unknown period',
    headers: { 'RateLimit-Limit': '100' },
    expected: { limit: 100, sources: ['ratelimit-limit'] },
  },
  {
    name: 'older RateLimit-Limit with a windowed policy',
    headers: { 'RateLimit-Limit': '100, 100;w=60' },
    expected: { policy: { limit: 100, windowMs: 60_000 }, sources: ['ratelimit-limit'] },
  },

  // X-RateLimit-* (GitHub: epoch seconds; others: delta seconds)
  {
    name: 'GitHub X-RateLimit with an epoch reset',
    headers: { 'X-RateLimit-Limit': '5000', 'X-RateLimit-Remaining': '4999', 'X-RateLimit-Reset': String(NOW_S + 600) },
    expected: {
      remaining: 4999,
      resetMs: 600_000,
      limit: 5000,
      sources: ['x-ratelimit-remaining', 'x-ratelimit-reset', 'x-ratelimit-limit'],
    },
  },
  {
    name: 'X-RateLimit-Reset delta seconds',
    headers: { 'X-RateLimit-Reset': '60' },
    expected: { resetMs: 60_000, sources: ['x-ratelimit-reset'] },
  },
  {
    name: 'X-RateLimit-Reset just under the threshold is a delta',
    headers: { 'X-RateLimit-Reset': String(EPOCH_SECONDS_THRESHOLD - 1) },
    expected: { resetMs: (EPOCH_SECONDS_THRESHOLD - 1) * 1000, sources: ['x-ratelimit-reset'] },
  },
  {
    name: 'X-RateLimit-Reset epoch in the past is now',
    headers: { 'X-RateLimit-Reset': String(EPOCH_SECONDS_THRESHOLD) },
    expected: { resetMs: 0, sources: ['x-ratelimit-reset'] },
  },
  {
    name: 'X-RateLimit-Reset epoch with a fraction (Discord)',
    headers: { 'X-RateLimit-Reset': `${NOW_S + 1}.25` },
    expected: { resetMs: 1250, sources: ['x-ratelimit-reset'] },
  },
  {
    name: "resetMode 'delta-seconds' reads a big value as a delay",
    mode: 'delta-seconds',
    headers: { 'X-RateLimit-Reset': String(NOW_S) },
    expected: { resetMs: NOW, sources: ['x-ratelimit-reset'] },
  },
  {
    name: "resetMode 'epoch-seconds' reads a small value as an epoch",
    mode: 'epoch-seconds',
    headers: { 'X-RateLimit-Reset': '60' },
    expected: { resetMs: 0, sources: ['x-ratelimit-reset'] },
  },
  // GitHub's X-RateLimit-Resource: numbers about another quota than the client's are not read.
  ...((): WellFormed[] => {
    const github = (resource: string) => ({
      'X-RateLimit-Limit': '30',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String(NOW_S + 40),
      'X-RateLimit-Resource': resource,
    });
    const read: ServerLimits = {
      remaining: 0,
      resetMs: 40_000,
      limit: 30,
      sources: ['x-ratelimit-remaining', 'x-ratelimit-reset', 'x-ratelimit-limit'],
    };
    return [
      { name: 'GitHub resource core, read by a core client', headers: github('core'), expected: read },
      { name: 'GitHub resource search, unread by a core client', headers: github('search'), expected: { sources: [] } },
      { name: 'GitHub resource search, read by a search client', headers: github(' Search '), resource: 'search', expected: read },
      {
        name: 'GitHub resource search keeps its Retry-After',
        headers: { ...github('search'), 'Retry-After': '60' },
        expected: { retryAfterMs: 60_000, sources: ['retry-after'] },
      },
    ];
  })(),
  {
    name: "resetMode 'epoch-seconds' with a future epoch",
    mode: 'epoch-seconds',
    headers: { 'X-RateLimit-Reset': String(NOW_S + 5) },
    expected: { resetMs: 5000, sources: ['x-ratelimit-reset'] },
  },

  // X (Twitter), OpenAI, Shopify
  {
    name: 'X x-rate-limit-*',
    headers: { 'x-rate-limit-limit': '900', 'x-rate-limit-remaining': '899', 'x-rate-limit-reset': String(NOW_S + 900) },
    expected: {
      remaining: 899,
      resetMs: 900_000,
      limit: 900,
      sources: ['x-rate-limit-remaining', 'x-rate-limit-reset', 'x-rate-limit-limit'],
    },
  },
  {
    name: 'OpenAI requests headers, tokens headers ignored',
    headers: {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-remaining-tokens': '1000',
      'x-ratelimit-reset-tokens': '6m0s',
    },
    expected: {
      remaining: 59,
      resetMs: 1000,
      limit: 60,
      sources: ['x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', 'x-ratelimit-limit-requests'],
    },
  },
  {
    name: 'OpenAI reset 6m0s',
    headers: { 'x-ratelimit-reset-requests': '6m0s' },
    expected: { resetMs: 360_000, sources: ['x-ratelimit-reset-requests'] },
  },
  {
    name: 'OpenAI reset 20ms',
    headers: { 'x-ratelimit-reset-requests': '20ms' },
    expected: { resetMs: 20, sources: ['x-ratelimit-reset-requests'] },
  },
  {
    name: 'OpenAI reset 1h2m3.5s',
    headers: { 'x-ratelimit-reset-requests': '1h2m3.5s' },
    expected: { resetMs: 3_723_500, sources: ['x-ratelimit-reset-requests'] },
  },
  {
    name: 'OpenAI reset 0',
    headers: { 'x-ratelimit-reset-requests': '0' },
    expected: { resetMs: 0, sources: ['x-ratelimit-reset-requests'] },
  },
  {
    name: 'Shopify 32/40',
    headers: { 'X-Shopify-Shop-Api-Call-Limit': '32/40' },
    // shopify.dev/docs/api/usage/limits: 40 requests, leaking 2 a second: 32 leak in 16 s.
    expected: { remaining: 8, resetMs: 16_000, refill: { perMs: 0.002, limit: 40 }, sources: ['x-shopify-shop-api-call-limit'] },
  },
  {
    name: 'Shopify Plus 100/400: leaks 20 a second',
    headers: { 'X-Shopify-Shop-Api-Call-Limit': '100/400' },
    expected: { remaining: 300, resetMs: 5_000, refill: { perMs: 0.02, limit: 400 }, sources: ['x-shopify-shop-api-call-limit'] },
  },
  {
    name: 'Shopify empty bucket: no reset to wait for',
    headers: { 'X-Shopify-Shop-Api-Call-Limit': '0/40' },
    expected: { remaining: 40, sources: ['x-shopify-shop-api-call-limit'] },
  },
  {
    name: 'Shopify full bucket',
    headers: { 'X-Shopify-Shop-Api-Call-Limit': '40/40' },
    expected: { remaining: 0, resetMs: 20_000, refill: { perMs: 0.002, limit: 40 }, sources: ['x-shopify-shop-api-call-limit'] },
  },

  // Several families at once
  {
    name: 'IETF RateLimit wins over X-RateLimit',
    headers: { RateLimit: '"default";r=3;t=10', 'X-RateLimit-Remaining': '99', 'X-RateLimit-Reset': '50' },
    expected: { remaining: 3, resetMs: 10_000, sources: ['ratelimit'] },
  },
  {
    name: 'each field falls back on its own',
    headers: { RateLimit: '"default";r=3', 'X-RateLimit-Remaining': '99', 'X-RateLimit-Reset': '50' },
    expected: { remaining: 3, resetMs: 50_000, sources: ['ratelimit', 'x-ratelimit-reset'] },
  },
  {
    name: 'older RateLimit-* wins over X-RateLimit and Shopify',
    headers: { 'RateLimit-Remaining': '1', 'X-RateLimit-Remaining': '2', 'X-Shopify-Shop-Api-Call-Limit': '1/40' },
    expected: { remaining: 1, sources: ['ratelimit-remaining'] },
  },
  {
    name: 'everything at once',
    headers: {
      'Retry-After': '3',
      'retry-after-ms': '2500',
      RateLimit: 'limit=100, remaining=0, reset=3',
      'RateLimit-Policy': '100;w=60',
      'X-RateLimit-Remaining': '9',
      'x-rate-limit-reset': String(NOW_S + 1),
    },
    expected: {
      retryAfterMs: 2500,
      remaining: 0,
      resetMs: 3000,
      policy: { limit: 100, windowMs: 60_000 },
      sources: ['retry-after-ms', 'ratelimit', 'ratelimit-policy'],
    },
  },
  { name: 'no rate-limit headers', headers: { 'Content-Type': 'application/json' }, expected: { sources: [] } },
];

describe('readServerLimits: well-formed headers', () => {
  it.each(wellFormed)('$name', ({ headers, mode, resource, expected }) => {
    // toStrictEqual also fails on a field present with the value undefined.
    expect(readServerLimits(new Headers(headers), NOW, mode, resource)).toStrictEqual(expected);
  });
});

interface Malformed {
  header: string;
  value: string;
}

/** Each alone must yield nothing: the field it would fill is absent, and no other field appears. */
const malformed: Malformed[] = [
  { header: 'Retry-After', value: 'abc' },
  { header: 'Retry-After', value: '' },
  { header: 'Retry-After', value: 'NaN' },
  { header: 'Retry-After', value: '1e999' },
  { header: 'Retry-After', value: 'Infinity' },
  { header: 'Retry-After', value: '10,20' },
  { header: 'Retry-After', value: '1.' },
  { header: 'Retry-After', value: '.5' },
  { header: 'Retry-After', value: '99999999999999999999' },
  { header: 'Retry-After', value: 'Wed, 32 Jan 2025 00:00:00 GMT' },
  { header: 'Retry-After', value: 'Sat, 31 Feb 2025 00:00:00 GMT' },
  { header: 'Retry-After', value: 'Wed, 01 Jan 2025 24:00:00 GMT' },
  { header: 'Retry-After', value: '2025-01-01T00:00:30Z' },
  { header: 'retry-after-ms', value: 'abc' },
  { header: 'retry-after-ms', value: '5ms' },
  { header: 'RateLimit', value: '"default";r=50;t=' },
  { header: 'RateLimit', value: '"default";r=-1;t=30' },
  { header: 'RateLimit', value: '"default";r=1.5' },
  { header: 'RateLimit', value: '"default";r="5"' },
  { header: 'RateLimit', value: '"default";t=30' },
  { header: 'RateLimit', value: 'limit=100, remaining=-5, reset=abc' },
  { header: 'RateLimit', value: 'remaining=(1 2)' },
  { header: 'RateLimit', value: '{}' },
  { header: 'RateLimit-Policy', value: '"default";q=100' },
  { header: 'RateLimit-Policy', value: '"default";q=0;w=60' },
  { header: 'RateLimit-Policy', value: '"default";q=100;w=0' },
  { header: 'RateLimit-Policy', value: '"default";q=100;w=-60' },
  { header: 'RateLimit-Policy', value: '"default";q=100;w=60;qu="content-bytes"' },
  { header: 'RateLimit-Policy', value: '"default";q=100;w=60,' },
  { header: 'RateLimit-Remaining', value: '10,20' },
  { header: 'RateLimit-Remaining', value: 'abc' },
  { header: 'RateLimit-Reset', value: '-1' },
  { header: 'X-RateLimit-Limit', value: '0' },
  { header: 'X-RateLimit-Limit', value: 'abc' },
  { header: 'x-rate-limit-limit', value: '-5' },
  { header: 'X-RateLimit-Remaining', value: '-1' },
  { header: 'X-RateLimit-Remaining', value: '1.5' },
  { header: 'X-RateLimit-Remaining', value: '99999999999999999999' },
  { header: 'X-RateLimit-Remaining', value: '10, 20' },
  { header: 'X-RateLimit-Remaining', value: '0x10' },
  { header: 'X-RateLimit-Reset', value: 'abc' },
  { header: 'X-RateLimit-Reset', value: '-60' },
  { header: 'X-RateLimit-Reset', value: '1e999' },
  { header: 'x-rate-limit-reset', value: 'tomorrow' },
  { header: 'x-rate-limit-remaining', value: 'NaN' },
  { header: 'x-ratelimit-reset-requests', value: '6x' },
  { header: 'x-ratelimit-reset-requests', value: '1h2' },
  { header: 'x-ratelimit-reset-requests', value: '-1s' },
  { header: 'x-ratelimit-reset-requests', value: 's' },
  { header: 'x-ratelimit-remaining-requests', value: '' },
  { header: 'X-Shopify-Shop-Api-Call-Limit', value: '32/' },
  { header: 'X-Shopify-Shop-Api-Call-Limit', value: '/40' },
  { header: 'X-Shopify-Shop-Api-Call-Limit', value: '40/32' },
  { header: 'X-Shopify-Shop-Api-Call-Limit', value: '32/40/50' },
  { header: 'X-Shopify-Shop-Api-Call-Limit', value: '32' },
];

describe('readServerLimits: malformed values are ignored', () => {
  it.each(malformed)('$header: $value', ({ header, value }) => {
    expect(readServerLimits(new Headers({ [header]: value }), NOW)).toStrictEqual({ sources: [] });
  });

  it('a malformed preferred header lets the next family answer', () => {
    const headers = new Headers({ RateLimit: '"default";r=', 'X-RateLimit-Remaining': '4' });
    expect(readServerLimits(headers, NOW)).toStrictEqual({ remaining: 4, sources: ['x-ratelimit-remaining'] });
  });

  it('a malformed field does not hide the well-formed ones beside it', () => {
    const headers = new Headers({ 'X-RateLimit-Remaining': 'lots', 'X-RateLimit-Reset': '30', 'Retry-After': 'later' });
    expect(readServerLimits(headers, NOW)).toStrictEqual({ resetMs: 30_000, sources: ['x-ratelimit-reset'] });
  });
});

describe('readServerLimits: any header values', () => {
  const names = [
    'retry-after',
    'retry-after-ms',
    'ratelimit',
    'ratelimit-policy',
    'ratelimit-limit',
    'ratelimit-remaining',
    'ratelimit-reset',
    'x-ratelimit-remaining',
    'x-ratelimit-reset',
    'x-rate-limit-remaining',
    'x-rate-limit-reset',
    'x-ratelimit-remaining-requests',
    'x-ratelimit-reset-requests',
    'x-shopify-shop-api-call-limit',
  ];
  // Mostly characters the parsers care about, so values come near the accepted forms.
  // eslint-disable-next-line @typescript-eslint/no-misused-spread -- ASCII only: one character a code point
  const value = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789.-;=,"/ ()hmsrtqwu:eGMTJan') }));
  const limitsHeaders = fc.dictionary(fc.constantFrom(...names), value);

  it('never throws, and returns only finite, non-negative values from the headers given', () => {
    fc.assert(
      fc.property(limitsHeaders, fc.constantFrom<ResetMode>('auto', 'epoch-seconds', 'delta-seconds'), (record, mode) => {
        const limits = readServerLimits(new Headers(record), NOW, mode);
        for (const ms of [limits.retryAfterMs, limits.resetMs]) {
          if (ms !== undefined) expect(Number.isSafeInteger(ms) && ms >= 0).toBe(true);
        }
        if (limits.remaining !== undefined) expect(Number.isSafeInteger(limits.remaining) && limits.remaining >= 0).toBe(true);
        if (limits.policy !== undefined) {
          expect(Number.isSafeInteger(limits.policy.limit) && limits.policy.limit >= 1).toBe(true);
          expect(Number.isSafeInteger(limits.policy.windowMs) && limits.policy.windowMs > 0).toBe(true);
        }
        expect(new Set(limits.sources).size).toBe(limits.sources.length);
        for (const source of limits.sources) expect(Object.keys(record)).toContain(source);
      }),
      { numRuns: 500 },
    );
  });
});

describe('serverSaysRetry', () => {
  it.each<[Record<string, string>, boolean | undefined]>([
    [{ 'x-should-retry': 'true' }, true],
    [{ 'x-should-retry': 'false' }, false],
    [{ 'x-should-retry': 'TRUE' }, true],
    [{ 'stripe-should-retry': 'true' }, true],
    [{ 'stripe-should-retry': 'false' }, false],
    [{ 'x-should-retry': 'false', 'stripe-should-retry': 'true' }, false],
    [{ 'x-should-retry': 'maybe', 'stripe-should-retry': 'true' }, true],
    [{ 'x-should-retry': 'yes' }, undefined],
    [{ 'x-should-retry': '1' }, undefined],
    [{ 'x-should-retry': '' }, undefined],
    [{}, undefined],
  ])('%j → %s', (headers, expected) => {
    expect(serverSaysRetry(new Headers(headers))).toBe(expected);
  });
});
