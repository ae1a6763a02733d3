// The meter for Anthropic's Messages API: requests, input tokens and output tokens, as its rate limits count them.
import type { Cost } from '../core/cost.js';
import { REQUESTS } from '../core/cost.js';
import type { CurrencyBudget, Meter, MeterRefusal, MeterRequest, MeterResponse, UsageReader } from '../core/meter.js';
import { boolean, describe, knownKeys } from '../core/validate.js';
import { asObject, bodyReader, tokenCount } from './body-reader.js';
import { delayUntilMs, headerCount } from './durations.js';
import { readErrorBody } from './error-body.js';
import { inputSizeOptions, inputTokens, jsonBody, meterOptions } from './request-body.js';
import type { InputSizeOptions, Tokenizer } from './request-body.js';

/** The options of `anthropic()`. */
export interface AnthropicMeterOptions {
  /**
   * Counts a request body's tokens (see `Tokenizer`); without it the estimate is characters /
   * `charsPerToken`.
   * @default none
   */
  tokenizer?: Tokenizer | undefined;
  /**
   * Characters per token, for the input estimate when there is no `tokenizer`. A finite number > 0.
   * @default 4
   */
  charsPerToken?: number | undefined;
  /**
   * Whether tokens read from the prompt cache (`cache_read_input_tokens`) count as input tokens.
   * For current models they do not count toward the input-tokens-per-minute limit; for a few older
   * models (marked † on docs.anthropic.com/en/api/rate-limits) they do: set it for those.
   * @default false
   */
  countCacheReads?: boolean | undefined;
  /**
   * The wall clock, in epoch milliseconds, for turning the RFC 3339 reset times of the rate-limit
   * headers into delays. A clock that is off from Anthropic's moves every reset by as much.
   * @default Date.now
   */
  now?: (() => number) | undefined;
}

const OPTION_KEYS = ['tokenizer', 'charsPerToken', 'countCacheReads', 'now'] as const;
const INPUT = 'input-tokens';
const OUTPUT = 'output-tokens';

/**
 * A meter for Anthropic's Messages API, streamed or not. It counts the three currencies Anthropic's
 * rate limits count: `'requests'`, `'input-tokens'` and `'output-tokens'` (RPM, ITPM and OTPM).
 *
 * - **Estimate**: input tokens from the JSON body's size (`tokenizer`, or characters /
 *   `charsPerToken`); output tokens = its `max_tokens`, which is what Anthropic itself reserves
 *   against OTPM until the request ends ("OTPM rate limits are estimated based on max_tokens at the
 *   beginning of each request", docs.anthropic.com/en/api/rate-limits).
 * - **Usage**: the response's `usage`; in a stream, `message_start` and then `message_delta`, whose
 *   counts are totals so far (the last one wins). Input counts `input_tokens` and
 *   `cache_creation_input_tokens`; `cache_read_input_tokens` only with `countCacheReads`.
 * - **Budgets**: `anthropic-ratelimit-{requests,input-tokens,output-tokens}-remaining` until the
 *   matching `-reset` instant.
 * - **Refusals**: a 429 names the limit it hit; a 429 without `retry-after`, or one about the
 *   monthly spend limit, fails at once; a 529 (overloaded) is no rate limit.
 *
 * @example new RateLimitedClient({ rateLimit: [{ limit: 50, windowMs: 60_000 }, { limit: 30_000, windowMs: 60_000, counts: 'input-tokens' }, { limit: 8_000, windowMs: 60_000, counts: 'output-tokens' }], meter: anthropic() })
 */
export function anthropic(options?: AnthropicMeterOptions): Meter {
  const input = meterOptions(options);
  knownKeys('', input, OPTION_KEYS);
  const size = inputSizeOptions(input);
  const countCacheReads = input.countCacheReads === undefined ? false : boolean('countCacheReads', input.countCacheReads);
  const now = input.now ?? Date.now;
  if (typeof now !== 'function') throw new TypeError(`Expected \`now\` to be a function () => number, got ${describe(now)}`);
  const clock = now as () => number;
  return {
    estimate: (request) => estimate(request, size),
    budgets: (response) => budgets(response.headers, clock()),
    usage: (response) => usage(response, countCacheReads),
    refusal: (response, body) => refusal(response, body),
  };
}

function estimate(request: MeterRequest, size: InputSizeOptions): Cost | undefined {
  const text = request.body;
  const body = jsonBody(text);
  if (text === undefined || body === undefined) return undefined;
  const cost: Record<string, number> = { [INPUT]: inputTokens(text, size) };
  // `max_tokens` is required by the Messages API; a body without it is refused (400) before it is counted.
  const maxTokens = tokenCount(body.max_tokens);
  if (maxTokens !== undefined) cost[OUTPUT] = maxTokens;
  return cost;
}

/**
 * `anthropic-ratelimit-{requests,input-tokens,output-tokens}-{remaining,reset}`
 * (docs.anthropic.com/en/api/rate-limits, "Response headers"). The reset is an RFC 3339 instant:
 * when the limit is fully replenished. Anthropic's limits are token buckets that refill
 * continuously, so until that instant the true remainder only grows from the stated one: a safe
 * budget. Remaining tokens are "rounded to the nearest thousand": off by up to 500 either way,
 * fine for a budget (a refusal from the server covers the rest).
 *
 * `anthropic-ratelimit-tokens-*` is not read: it is "the most restrictive limit currently in
 * effect" over input and output together (its limit is their sum in recorded responses: 96,000 =
 * 80,000 + 16,000), a currency no request's cost names, and the input and output budgets already
 * say what it would.
 */
function budgets(headers: Headers, nowMs: number): CurrencyBudget[] | undefined {
  const out: CurrencyBudget[] = [];
  for (const [counts, name] of [
    [REQUESTS, 'requests'],
    [INPUT, 'input-tokens'],
    [OUTPUT, 'output-tokens'],
  ] as const) {
    const remaining = headerCount(headers.get(`anthropic-ratelimit-${name}-remaining`));
    const resetMs = delayUntilMs(headers.get(`anthropic-ratelimit-${name}-reset`), nowMs);
    const limit = headerCount(headers.get(`anthropic-ratelimit-${name}-limit`));
    if (remaining === undefined || resetMs === undefined) continue;
    // Token buckets, refilled continuously up to the limit by the reset (see above).
    out.push(limit === undefined ? { counts, remaining, resetMs } : { counts, remaining, resetMs, limit, refills: true });
  }
  return out.length === 0 ? undefined : out;
}

/** The top-level `usage` of a Message or of a `message_delta` event; `message.usage` of `message_start`. */
const USAGE_PATHS = [['usage'], ['message', 'usage']];
const USAGE_FIELDS = ['input_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens', 'output_tokens'] as const;
type UsageField = (typeof USAGE_FIELDS)[number];

/**
 * Settles from the usage of a Message (not streamed), or of a stream: `message_start` carries the
 * input counts and a first output count, each `message_delta` the output count so far and, when
 * they changed (server tools), the input counts so far. Each count seen replaces the one before,
 * never adds to it, as the SDK's own MessageStream does (@anthropic-ai/sdk
 * src/lib/MessageStream.ts, `case 'message_delta'`). A stream that never reaches a
 * `message_delta` has no final output count: the estimate stands.
 */
function usage(response: MeterResponse, countCacheReads: boolean): UsageReader | undefined {
  const counts: Partial<Record<UsageField, number>> = {};
  let final = false;
  return bodyReader(
    response,
    USAGE_PATHS,
    (path, value) => {
      const usage = asObject(value);
      if (usage === undefined) return;
      for (const field of USAGE_FIELDS) {
        const count = tokenCount(usage[field]);
        if (count !== undefined) counts[field] = count;
      }
      if (path === 0 && counts.output_tokens !== undefined) final = true;
    },
    () => {
      const { input_tokens, output_tokens } = counts;
      if (!final || input_tokens === undefined || output_tokens === undefined) return undefined;
      // ITPM counts input_tokens + cache_creation_input_tokens; cache reads only for the † models
      // (docs.anthropic.com/en/api/rate-limits, "Cache-aware ITPM").
      const input =
        input_tokens + (counts.cache_creation_input_tokens ?? 0) + (countCacheReads ? (counts.cache_read_input_tokens ?? 0) : 0);
      return { [INPUT]: input, [OUTPUT]: output_tokens };
    },
  );
}

/** The limits a `rate_limit_error` message names: "… of 30,000 input tokens per minute". */
const LIMIT_WORDS = [
  [INPUT, 'input tokens per minute'],
  [OUTPUT, 'output tokens per minute'],
  [REQUESTS, 'requests per minute'],
] as const;

/**
 * What a refusal was for:
 *
 * - 529 `overloaded_error` is Anthropic being busy, not a limit of ours: undefined (the client's
 *   ordinary handling). So is any refusal whose body says `overloaded_error`.
 * - 429 `rate_limit_error` about the "monthly spend limit" ("This request would exceed your
 *   account's monthly spend limit", NousResearch/hermes-agent#91091): fatal, even with a
 *   `retry-after`: the cap holds until the next month.
 * - 429 without `retry-after`: a spend cap, not a rate (Anthropic sends `retry-after` with every
 *   rate-limit 429, docs.anthropic.com/en/api/rate-limits): fatal. A proxy that strips the
 *   header makes every 429 look so.
 * - 429 whose message names "input tokens per minute", "output tokens per minute" or "requests per
 *   minute" ("This request would exceed the rate limit for your organization … of 40,000 input
 *   tokens per minute", bhouston/mycoder#62): those currencies. Otherwise every request waits.
 */
function refusal(response: MeterResponse, body: string): MeterRefusal | undefined {
  const error = readErrorBody(body);
  if (response.status !== 429 || error.types.includes('overloaded_error')) return undefined;
  if (error.message.includes('spend limit')) {
    return {
      fatal:
        "Anthropic says the request would exceed the account's monthly spend limit: waiting will not help; raise the limit in the Console",
    };
  }
  if (!response.headers.has('retry-after')) {
    return {
      fatal:
        'Anthropic refused with 429 and no retry-after, which it does for a spend cap, not for a rate limit: waiting will not help; check the limits and billing in the Console',
    };
  }
  const counts = LIMIT_WORDS.filter(([, words]) => error.message.includes(words)).map(([currency]) => currency);
  return counts.length === 0 ? undefined : { counts };
}
