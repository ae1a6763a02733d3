import { describe, expect, it } from 'vitest';
import { delayUntilMs, headerCount, resetDelayMs } from '../../../src/meters/durations.js';

describe('resetDelayMs: Go durations and plain seconds', () => {
  it.each([
    // OpenAI's documented examples (platform.openai.com/docs/guides/rate-limits, "Rate limits in headers").
    ['1s', 1000],
    ['6m0s', 360_000],
    // Groq's documented example (console.groq.com/docs/rate-limits, "Rate Limit Headers").
    ['2m59.56s', 179_560],
    ['7.66s', 7660],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
    ['1.5µs', 1],
    ['1500us', 2],
    ['.5s', 500],
    // Azure OpenAI: plain seconds.
    ['60', 60_000],
    ['0.25', 250],
    [' 12ms ', 12],
  ])('%s is %d ms (rounded up)', (text, ms) => {
    expect(resetDelayMs(text)).toBe(ms);
  });

  it.each([
    // Azure OpenAI's "no figure" values (learn.microsoft.com/en-us/answers/questions/5625878).
    '0',
    '-1',
    '0s',
    '',
    '6 m',
    '6m0',
    's',
    '1d',
    'soon',
    '1e3',
    'NaN',
    'Infinity',
  ])('%j is no reset', (text) => {
    expect(resetDelayMs(text)).toBeUndefined();
  });

  it('a missing header is no reset', () => {
    expect(resetDelayMs(null)).toBeUndefined();
  });
});

describe('delayUntilMs: RFC 3339 instants', () => {
  const now = Date.UTC(2025, 7, 21, 12, 40, 58);

  it.each([
    // Anthropic's form, as recorded in tidyllm's fixture of a real response (rdrr.io/cran/tidyllm,
    // tests/testthat/claude/api.anthropic.com/v1/messages-e050b5-POST.R).
    ['2025-08-21T12:40:59Z', 1000],
    ['2025-08-21T12:41:58Z', 60_000],
    ['2025-08-21t12:40:59z', 1000],
    ['2025-08-21 12:40:59Z', 1000],
    ['2025-08-21T12:40:58.5Z', 500],
    ['2025-08-21T12:40:58.123456789Z', 123],
    ['2025-08-21T14:40:59+02:00', 1000],
    ['2025-08-21T11:40:59-01:00', 1000],
  ])('%s is %d ms away', (text, ms) => {
    expect(delayUntilMs(text, now)).toBe(ms);
  });

  it.each([
    '2025-08-21T12:40:58Z',
    '2025-08-21T12:40:57Z',
    '2025-08-21',
    '2025-08-21T12:40:59',
    'Thu, 21 Aug 2025 12:41:00 GMT',
    '1755780059',
    'x',
  ])('%j is no reset (not RFC 3339, or not in the future)', (text) => {
    expect(delayUntilMs(text, now)).toBeUndefined();
  });

  it('rounds a fraction of a millisecond up', () => {
    expect(delayUntilMs('2025-08-21T12:40:59Z', now + 0.25)).toBe(1000);
  });
});

describe('headerCount', () => {
  it.each([
    ['59', 59],
    ['0', 0],
    [' 149984 ', 149_984],
    ['12.9', 12],
  ])('%j is %d', (text, count) => {
    expect(headerCount(text)).toBe(count);
  });

  it.each(['-1', '', 'many', '1e5', '99999999999999999999'])('%j is no count', (text) => {
    expect(headerCount(text)).toBeUndefined();
  });
});
