import { describe, expect, it } from 'vitest';
import { anthropic, openai } from '../../../src/meters/index.js';

type Factory = (options?: never) => unknown;

/** The error `fn` throws; fails the test when it throws nothing. */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

const both: Array<[string, Factory]> = [
  ['openai', openai],
  ['anthropic', anthropic],
];

describe.each(both)('%s(): options', (_name, factory) => {
  const make = (options: unknown) => () => factory(options as never);

  it('takes no options, undefined, or {}', () => {
    expect(make(undefined)).not.toThrow();
    expect(make({})).not.toThrow();
    expect(make({ tokenizer: undefined, charsPerToken: undefined })).not.toThrow();
  });

  it.each([
    ['options that are not an object', 'fast', TypeError, 'Expected `options` to be an object, got `"fast"` (string)'],
    [
      'an unknown option',
      { charsPerTokens: 4 },
      TypeError,
      /^Unknown option `charsPerTokens`; expected one of `tokenizer`, `charsPerToken`/,
    ],
    [
      'a tokenizer that is not a function',
      { tokenizer: 'cl100k_base' },
      TypeError,
      'Expected `tokenizer` to be a function (text: string) => number, got `"cl100k_base"` (string)',
    ],
    ['charsPerToken 0', { charsPerToken: 0 }, RangeError, 'Expected `charsPerToken` to be a finite number > 0, got `0` (number)'],
    ['charsPerToken < 0', { charsPerToken: -4 }, RangeError, 'Expected `charsPerToken` to be a finite number > 0, got `-4` (number)'],
    [
      'charsPerToken Infinity',
      { charsPerToken: Infinity },
      RangeError,
      'Expected `charsPerToken` to be a finite number > 0, got `Infinity` (number)',
    ],
    [
      'charsPerToken as a string',
      { charsPerToken: '4' },
      TypeError,
      'Expected `charsPerToken` to be a finite number > 0, got `"4"` (string)',
    ],
  ])('%s', (_case, options, Kind, message) => {
    const error = thrownBy(make(options));
    expect(error).toBeInstanceOf(Kind);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});

describe('openai(): its own options', () => {
  it.each([
    [
      'defaultMaxTokens a fraction',
      { defaultMaxTokens: 1.5 },
      RangeError,
      'Expected `defaultMaxTokens` to be an integer >= 0, got `1.5` (number)',
    ],
    ['defaultMaxTokens < 0', { defaultMaxTokens: -1 }, RangeError, 'Expected `defaultMaxTokens` to be an integer >= 0, got `-1` (number)'],
    [
      'defaultMaxTokens as a string',
      { defaultMaxTokens: '4096' },
      TypeError,
      'Expected `defaultMaxTokens` to be an integer >= 0, got `"4096"` (string)',
    ],
    ['a currency with capitals', { currency: 'Tokens' }, RangeError, /^Expected `currency` to be a currency name made of a-z, 0-9 and '-'/],
    ['a currency that is not a string', { currency: 7 }, TypeError, /^Expected `currency` to be a currency name/],
    [
      'the currency requests',
      { currency: 'requests' },
      RangeError,
      "Expected `currency` to be a currency other than 'requests' (a request's weight), got `\"requests\"` (string)",
    ],
    ['an anthropic option', { now: Date.now }, TypeError, /^Unknown option `now`/],
  ])('%s', (_case, options, Kind, message) => {
    const error = thrownBy(() => openai(options as never));
    expect(error).toBeInstanceOf(Kind);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  it('defaultMaxTokens 0 is allowed', () => {
    expect(
      openai({ defaultMaxTokens: 0 }).estimate({ method: 'POST', url: 'https://api.openai.com/v1/chat/completions', body: '{}' }),
    ).toEqual({ tokens: 1 });
  });
});

describe('anthropic(): its own options', () => {
  it.each([
    [
      'now that is not a function',
      { now: 1_700_000_000_000 },
      TypeError,
      'Expected `now` to be a function () => number, got `1700000000000` (number)',
    ],
    [
      'countCacheReads not a boolean',
      { countCacheReads: 'yes' },
      TypeError,
      'Expected `countCacheReads` to be a boolean, got `"yes"` (string)',
    ],
    ['an openai option', { currency: 'tokens' }, TypeError, /^Unknown option `currency`/],
  ])('%s', (_case, options, Kind, message) => {
    const error = thrownBy(() => anthropic(options as never));
    expect(error).toBeInstanceOf(Kind);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });
});
