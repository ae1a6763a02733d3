// The meter for OpenAI and the APIs that copy its headers (Azure OpenAI, Groq, Mistral): tokens estimated, settled from `usage`.
import type { Cost } from '../core/cost.js';
import { normalizeCurrency, REQUESTS } from '../core/cost.js';
import type { CurrencyBudget, Meter, MeterRefusal, MeterRequest, MeterResponse, UsageReader } from '../core/meter.js';
import { integerAtLeast, knownKeys } from '../core/validate.js';
import { asObject, bodyReader, tokenCount } from './body-reader.js';
import { headerCount, resetDelayMs } from './durations.js';
import { readErrorBody } from './error-body.js';
import { inputSizeOptions, inputTokens, jsonBody, meterOptions } from './request-body.js';
import type { InputSizeOptions, Tokenizer } from './request-body.js';

/** The options of `openai()`. */
export interface OpenAIMeterOptions {
  /**
   * Counts a request body's tokens (see `Tokenizer`); without it the estimate is characters /
   * `charsPerToken`.
   * @default none
   * @example (text) => encoding.encode(text).length
   */
  tokenizer?: Tokenizer | undefined;
  /**
   * Characters per token, for the input estimate when there is no `tokenizer`. A finite number > 0.
   * @default 4
   */
  charsPerToken?: number | undefined;
  /**
   * The output tokens to reserve for a request that sets no cap (`max_tokens`,
   * `max_completion_tokens`, `max_output_tokens`). The estimate holds the budget only until the
   * response's `usage` settles it, but while it is held it decides how many requests may start:
   * too large and requests wait for budget they will not use (or, above a token window's `limit`,
   * can never start: a `RangeError`); too small and more requests start than the server's own
   * reservation admits, which it answers with 429s (LiteLLM's pre-call reservation of a fixed
   * 1,024 had both faults: BerriAI/litellm#29193). 4,096 covers most chat replies; set the cap in
   * the requests, or this option, to what your replies really need. An integer >= 0.
   * @default 4096
   */
  defaultMaxTokens?: number | undefined;
  /**
   * The currency tokens are counted in: the `counts` of the client's token windows. Not
   * `'requests'` (that is each request's weight).
   * @default 'tokens'
   */
  currency?: string | undefined;
}

const OPTION_KEYS = ['tokenizer', 'charsPerToken', 'defaultMaxTokens', 'currency'] as const;
/** The default `defaultMaxTokens`: see the option. */
const DEFAULT_MAX_TOKENS = 4096;
/** The output caps of Chat Completions (`max_tokens`, and its successor `max_completion_tokens`) and of the Responses API. */
const OUTPUT_CAPS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;
/** The minute windows of Mistral's headers: their reset is not sent, and is at most this far off. */
const MINUTE_MS = 60_000;

/**
 * A meter for the OpenAI API: Chat Completions, the Responses API and Embeddings, streamed or not;
 * also for APIs that speak its dialect (Azure OpenAI, Groq, Mistral). It counts `'requests'` and
 * one token currency (`'tokens'` by default), as OpenAI's RPM and TPM limits do.
 *
 * - **Estimate**: the JSON body's input size (`tokenizer`, or characters / `charsPerToken`) plus
 *   its output cap times `n`; `defaultMaxTokens` when it sets none; no output for embeddings.
 * - **Usage**: the response's `usage` (`total_tokens`, or input + output), read as the body passes;
 *   in a stream, Chat Completions' last chunk (sent with `stream_options: { include_usage: true }`)
 *   or the Responses API's `response.completed`. No usage: the estimate stands.
 * - **Budgets**: `x-ratelimit-remaining-{requests,tokens}` until `x-ratelimit-reset-*`, and Mistral's
 *   `x-ratelimit-remaining-{req,tokens}-minute`.
 * - **Refusals**: a 429 for tokens holds only work that costs tokens, one for requests all work;
 *   `insufficient_quota` fails at once, as waiting will not help.
 *
 * @example new RateLimitedClient({ rateLimit: [{ limit: 500, windowMs: 60_000 }, { limit: 200_000, windowMs: 60_000, counts: 'tokens' }], meter: openai() })
 */
export function openai(options?: OpenAIMeterOptions): Meter {
  const input = meterOptions(options);
  knownKeys('', input, OPTION_KEYS);
  const size = inputSizeOptions(input);
  const defaultMaxTokens =
    input.defaultMaxTokens === undefined ? DEFAULT_MAX_TOKENS : integerAtLeast('defaultMaxTokens', input.defaultMaxTokens, 0);
  const currency = input.currency === undefined ? 'tokens' : normalizeCurrency('currency', input.currency);
  if (currency === REQUESTS) {
    throw new RangeError("Expected `currency` to be a currency other than 'requests' (a request's weight), got `\"requests\"` (string)");
  }
  return {
    estimate: (request) => estimate(request, size, defaultMaxTokens, currency),
    budgets: (response) => budgets(response.headers, currency),
    usage: (response) => usage(response, currency),
    refusal: (_response, body) => refusal(body, currency),
  };
}

function estimate(request: MeterRequest, size: InputSizeOptions, defaultMaxTokens: number, currency: string): Cost | undefined {
  const text = request.body;
  const body = jsonBody(text);
  if (text === undefined || body === undefined) return undefined;
  return { [currency]: inputTokens(text, size) + outputTokens(request.url, body, defaultMaxTokens) };
}

/** The most output the request may produce: its cap (the largest, if it names several) times `n`. */
function outputTokens(url: string, body: Record<string, unknown>, defaultMaxTokens: number): number {
  // An embedding has no output (platform.openai.com/docs/api-reference/embeddings).
  if (/\/embeddings(?:[?#]|$)/.test(url)) return 0;
  let cap: number | undefined;
  for (const field of OUTPUT_CAPS) {
    const value = tokenCount(body[field]);
    if (value !== undefined) cap = Math.max(cap ?? 0, value);
  }
  // `n` completions each up to the cap (Chat Completions' `n`, default 1).
  const n = tokenCount(body.n);
  return (cap ?? defaultMaxTokens) * (n === undefined || n === 0 ? 1 : n);
}

/**
 * The remaining budgets the headers state. Each needs a remaining count and a reset in the future:
 *
 * - OpenAI: `x-ratelimit-remaining-requests` / `-tokens` with `x-ratelimit-reset-requests` /
 *   `-tokens` as Go durations, `6m0s`, `20ms` (platform.openai.com/docs/guides/rate-limits).
 * - Azure OpenAI: the same names, resets in plain seconds; `-1` and `0` where it has no figure
 *   (learn.microsoft.com/en-us/answers/questions/5625878), which are ignored.
 * - Groq: the same names, but `x-ratelimit-*-requests` count requests per DAY (and `-tokens` per
 *   minute; console.groq.com/docs/rate-limits). That is still the truth about what is left until
 *   that reset, and the client uses only the remaining count and the reset, never the limit to
 *   size a window, so it is read as it is.
 * - Mistral: `x-ratelimit-remaining-tokens-minute` and `x-ratelimit-remaining-req-minute`
 *   (mistralai/client-ts#169); no reset header, so the reset is taken as a minute away: the window
 *   is a minute, so its reset is no later than that. A later bound can only make the client wait
 *   longer for a spent budget, never send more than is left. A `-minute` reset header (Cerebras
 *   sends `x-ratelimit-reset-tokens-minute` in seconds) is used when present. The `-month`
 *   headers are not read: a month's remainder does not bound a minute's work usefully.
 */
function budgets(headers: Headers, currency: string): CurrencyBudget[] | undefined {
  const out: CurrencyBudget[] = [];
  const requests =
    budget(headers, REQUESTS, 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', undefined, 'x-ratelimit-limit-requests') ??
    budget(headers, REQUESTS, 'x-ratelimit-remaining-req-minute', 'x-ratelimit-reset-req-minute', MINUTE_MS);
  const tokens =
    budget(headers, currency, 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens', undefined, 'x-ratelimit-limit-tokens') ??
    budget(headers, currency, 'x-ratelimit-remaining-tokens-minute', 'x-ratelimit-reset-tokens-minute', MINUTE_MS);
  if (requests !== undefined) out.push(requests);
  if (tokens !== undefined) out.push(tokens);
  return out.length === 0 ? undefined : out;
}

function budget(
  headers: Headers,
  counts: string,
  remainingHeader: string,
  resetHeader: string,
  windowMs: number | undefined,
  limitHeader?: string,
): CurrencyBudget | undefined {
  const remaining = headerCount(headers.get(remainingHeader));
  if (remaining === undefined) return undefined;
  const resetMs = resetDelayMs(headers.get(resetHeader)) ?? windowMs;
  if (resetMs === undefined) return undefined;
  // OpenAI's reset is "the time until the rate limit resets to its initial state": its limits refill
  // continuously up to x-ratelimit-limit-*, so what grows back before the reset may be used.
  const limit = limitHeader === undefined ? undefined : headerCount(headers.get(limitHeader));
  return limit === undefined ? { counts, remaining, resetMs } : { counts, remaining, resetMs, limit, refills: true };
}

/**
 * Where the usage is: the top-level `usage` of a Chat Completions, Responses or Embeddings body and
 * of a Chat Completions stream's last chunk; `response.usage` in the Responses API's stream events
 * (`response.completed`, also `response.incomplete` and `response.failed`; earlier events carry
 * `"usage": null`).
 */
const USAGE_PATHS = [['usage'], ['response', 'usage']];

function usage(response: MeterResponse, currency: string): UsageReader | undefined {
  let total: number | undefined;
  return bodyReader(
    response,
    USAGE_PATHS,
    (_path, value) => {
      total = totalTokens(value) ?? total;
    },
    () => (total === undefined ? undefined : { [currency]: total }),
  );
}

/**
 * The tokens a `usage` object counts: `total_tokens` (Chat Completions, Responses, Embeddings), or
 * input + output: `prompt_tokens` + `completion_tokens` (Chat Completions; an embedding has only
 * `prompt_tokens`), `input_tokens` + `output_tokens` (Responses). Shapes as in openai-node's
 * `CompletionUsage`, `ResponseUsage` and `CreateEmbeddingResponse.Usage`.
 */
function totalTokens(value: unknown): number | undefined {
  const usage = asObject(value);
  if (usage === undefined) return undefined;
  const total = tokenCount(usage.total_tokens);
  if (total !== undefined) return total;
  const input = tokenCount(usage.prompt_tokens) ?? tokenCount(usage.input_tokens);
  const output = tokenCount(usage.completion_tokens) ?? tokenCount(usage.output_tokens) ?? 0;
  return input === undefined ? undefined : input + output;
}

/** The words of a 429's message that name what ran out, for bodies whose `type` says nothing. */
const TOKEN_LIMIT = /tokens per (?:min|day)|\(tpm\)|\(tpd\)/;
const REQUEST_LIMIT = /requests per (?:min|day)|\(rpm\)|\(rpd\)/;

/**
 * What a refusal was for, from its body:
 *
 * - `insufficient_quota` (as `type` or `code`): "You exceeded your current quota, please check your
 *   plan and billing details" (platform.openai.com/docs/guides/error-codes; the body as in
 *   ChatGPTNextWeb/NextChat#4101): fatal, no wait can help.
 * - `"type": "tokens"` with `"code": "rate_limit_exceeded"`, "Rate limit reached for … on tokens per
 *   min (TPM): Limit 10000, Used 8782, Requested 8172" (OpenAI cookbook "How to handle rate limits";
 *   the body as in Pythagora-io/gpt-pilot#17, Groq's the same, Aider-AI/aider#3265): the token
 *   currency. The older `tokens_usage_based` type too.
 * - `"type": "requests"`, "… on requests per min (RPM)" (or per day): `'requests'`.
 * - Anything else (`slow_down`, a 503 `server_is_overloaded`): undefined, every request waits.
 */
function refusal(body: string, currency: string): MeterRefusal | undefined {
  const error = readErrorBody(body);
  if (error.types.includes('insufficient_quota') || error.code === 'insufficient_quota') {
    return { fatal: "OpenAI says the account's quota is spent (insufficient_quota): waiting will not help; check the plan and billing" };
  }
  if (error.types.some((type) => type === 'tokens' || type === 'tokens_usage_based')) return { counts: [currency] };
  if (error.types.includes('requests')) return { counts: [REQUESTS] };
  if (TOKEN_LIMIT.test(error.message)) return { counts: [currency] };
  if (REQUEST_LIMIT.test(error.message)) return { counts: [REQUESTS] };
  return undefined;
}
