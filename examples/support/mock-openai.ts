/**
 * A local OpenAI API that bills requests and tokens as OpenAI documents it, for the examples and the
 * token benchmark. Real HTTP on 127.0.0.1 and a free port; no network.
 *
 * Sources for each rule (platform.openai.com/docs/guides/rate-limits, "Rate limits"):
 * - "Rate limits are measured in five ways: RPM (requests per minute), RPD, TPM (tokens per minute),
 *   TPD and IPM": this mock keeps RPM and TPM, each scaled from a minute down to `windowMs`.
 * - "Your rate limit is calculated as the maximum of max_tokens and the estimated number of tokens based
 *   on the character count of your request": a request is charged up front, before it runs, for its
 *   prompt (about 4 characters a token, OpenAI's own rule of thumb in "What are tokens") and for its
 *   output cap (`max_completion_tokens`, or the older `max_tokens`). The mock adds the two, as OpenAI's
 *   cookbook does for the same reservation (openai-cookbook `api_request_parallel_processor.py`: "tokens
 *   = prompt + n * max_tokens"), so a request with a generous cap holds room it may not use.
 * - Once the answer is complete the charge is settled to the real usage (`usage.total_tokens`): the
 *   unused part of the cap flows back.
 * - "x-ratelimit-reset-tokens: the time until the rate limit (based on tokens) resets to its initial
 *   state", as a Go duration (`1s`, `6m0s`, `20ms`): the limits refill continuously, so each one is a
 *   bucket of the limit's size that refills all of it over `windowMs` (the reset is when it is full).
 * - "Note that unsuccessful requests contribute to your per-minute limit" ("Error mitigation"): a
 *   refused request uses a request of the RPM, though none of the TPM.
 * - A 429 carries OpenAI's error body (`type` "tokens" or "requests", `code` "rate_limit_exceeded",
 *   "Rate limit reached for … on tokens per min (TPM): Limit …, Used …, Requested …. Please try again
 *   in 1.2s. …") and the same headers, with `retry-after-ms` and `retry-after`, which the SDK reads.
 *   A request whose up-front charge is over the whole TPM gets OpenAI's "Request too large".
 *
 * How long an answer is: the model stops at `max_completion_tokens`; a request can say how many
 * tokens the answer takes by ending its last message with `(answer in N tokens)`, which the benchmark
 * uses to give every contender the same answers. Without it an answer is a short quote of the question.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { readJson, sendJson, startLocalServer, type LocalServer } from './local-server.js';

export interface OpenAIMockOptions {
  /** Requests per `windowMs`: the model's RPM, scaled down. */
  requests: number;
  /** Tokens per `windowMs`: the model's TPM, scaled down. */
  tokens: number;
  /** The minute, scaled down: 60_000 is OpenAI's own. */
  windowMs: number;
  /** Time to the first byte of an answer. @default 20 */
  latencyMs?: number;
  /** Generation time per output token, spread over a streamed answer's chunks. @default 0.1 */
  msPerToken?: number;
  /** The only key accepted (`authorization: Bearer …`). @default 'test' */
  apiKey?: string;
}

export interface OpenAIMockStats {
  /** Requests answered 200. */
  answered: number;
  /** Requests refused with 429, by the limit they hit ('tokens' includes "Request too large"). */
  refused: { requests: number; tokens: number };
  /** Tokens the answered requests really used (their `usage.total_tokens`), the TPM's settled charge. */
  tokensServed: number;
  /** Requests answered as a stream. */
  streamed: number;
}

export interface OpenAIMock extends LocalServer {
  stats(): OpenAIMockStats;
  /** The bodies' `error.message` of every 429, in order: what a failing run prints. */
  readonly refusals: readonly string[];
}

/** The mock's own suffix asking for an answer of a given length: `(answer in 120 tokens)`. */
export const answerLength = (tokens: number): string => `(answer in ${tokens} tokens)`;
const ANSWER_LENGTH = /\(answer in (\d+) tokens\)\s*$/;

/** OpenAI's rule of thumb ("What are tokens and how to count them"): about 4 characters a token. */
export const tokenCount = (text: string): number => Math.ceil(text.length / 4);

/**
 * A chat prompt's tokens as OpenAI's cookbook counts them ("How to count tokens with tiktoken"): 3 per
 * message for its framing, the content, and 3 that prime the reply.
 */
export function promptTokens(messages: ReadonlyArray<{ content?: unknown }>): number {
  return messages.reduce((sum, message) => sum + 3 + tokenCount(typeof message.content === 'string' ? message.content : ''), 3);
}

/** Holds up to `capacity`, refilling all of it over `windowMs`, continuously; starts full. */
export class Bucket {
  readonly capacity: number;
  readonly #perMs: number;
  /** The level at `#at`; below 0 after a settlement that cost more than was reserved. */
  #level: number;
  #at = performance.now();

  constructor(capacity: number, windowMs: number) {
    this.capacity = capacity;
    this.#perMs = capacity / windowMs;
    this.#level = capacity;
  }

  level(now = performance.now()): number {
    this.#level = Math.min(this.capacity, this.#level + (now - this.#at) * this.#perMs);
    this.#at = now;
    return this.#level;
  }

  /** Takes `amount` (a negative amount gives back), never above the capacity. */
  take(amount: number, now = performance.now()): void {
    this.#level = Math.min(this.capacity, this.level(now) - amount);
  }

  /** Milliseconds until `amount` is there. */
  until(amount: number, now = performance.now()): number {
    return Math.max(0, (amount - this.level(now)) / this.#perMs);
  }

  untilFull(now = performance.now()): number {
    return this.until(this.capacity, now);
  }
}

/** Go's time.Duration format, as OpenAI's reset headers and messages use it: `20ms`, `1.5s`, `6m0s`. */
export function goDuration(ms: number): string {
  if (ms < 1) return '0s';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const trim = (seconds: number) => String(Number(seconds.toFixed(3)));
  return ms < 60_000 ? `${trim(ms / 1000)}s` : `${Math.floor(ms / 60_000)}m${trim((ms % 60_000) / 1000)}s`;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ChatBody {
  model?: unknown;
  messages?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

/** `POST /v1/chat/completions`, plain and streamed, under an RPM and a TPM (see the file's comment). */
export async function startOpenAIMock(options: OpenAIMockOptions): Promise<OpenAIMock> {
  const { windowMs, latencyMs = 20, msPerToken = 0.1, apiKey = 'test' } = options;
  const requests = new Bucket(options.requests, windowMs);
  const tokens = new Bucket(options.tokens, windowMs);
  const stats: OpenAIMockStats = { answered: 0, refused: { requests: 0, tokens: 0 }, tokensServed: 0, streamed: 0 };
  const refusals: string[] = [];
  let sequence = 0;

  const limitHeaders = (now: number) => ({
    'x-ratelimit-limit-requests': String(requests.capacity),
    'x-ratelimit-limit-tokens': String(tokens.capacity),
    'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(requests.level(now)))),
    'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(tokens.level(now)))),
    'x-ratelimit-reset-requests': goDuration(requests.untilFull(now)),
    'x-ratelimit-reset-tokens': goDuration(tokens.untilFull(now)),
  });

  const refuse = (res: ServerResponse, now: number, kind: 'requests' | 'tokens', message: string, waitMs: number) => {
    stats.refused[kind]++;
    refusals.push(message);
    const wait = { 'retry-after-ms': String(Math.ceil(waitMs)), 'retry-after': String(Math.ceil(waitMs / 1000)) };
    sendJson(res, 429, { ...limitHeaders(now), ...wait }, { error: { message, type: kind, param: null, code: 'rate_limit_exceeded' } });
  };

  const server = await startLocalServer(async (req, res) => {
    const body = (await readJson(req)) as ChatBody | undefined;
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      const message = 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.';
      sendJson(res, 401, {}, { error: { message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions' || body === undefined || !Array.isArray(body.messages)) {
      const message = `Invalid URL (${req.method ?? ''} ${req.url ?? ''})`;
      sendJson(res, 404, {}, { error: { message, type: 'invalid_request_error', param: null, code: null } });
      return;
    }
    const model = typeof body.model === 'string' ? body.model : 'gpt-4o-mini';
    const messages = body.messages as Array<{ content?: unknown }>;
    const cap = Number(body.max_completion_tokens ?? body.max_tokens ?? 0);
    const prompt = promptTokens(messages);
    const reserved = prompt + cap;
    const now = performance.now();

    if (reserved > tokens.capacity) {
      const message =
        `Request too large for ${model} in organization org-mock on tokens per min (TPM): Limit ${tokens.capacity}, ` +
        `Requested ${reserved}. The input or output tokens must be reduced in order to run successfully. ` +
        'Visit https://platform.openai.com/account/rate-limits to learn more.';
      if (requests.level(now) >= 1) requests.take(1, now);
      refuse(res, now, 'tokens', message, 0);
      return;
    }
    const requestsLeft = requests.level(now);
    const tokensLeft = tokens.level(now);
    if (requestsLeft < 1 || tokensLeft < reserved) {
      const kind = requestsLeft < 1 ? 'requests' : 'tokens';
      const [unit, limit, left, asked] =
        kind === 'requests'
          ? (['RPM', requests.capacity, requestsLeft, 1] as const)
          : (['TPM', tokens.capacity, tokensLeft, reserved] as const);
      const waitMs = (kind === 'requests' ? requests : tokens).until(asked, now);
      const message =
        `Rate limit reached for ${model} in organization org-mock on ${kind} per min (${unit}): Limit ${limit}, ` +
        `Used ${Math.ceil(limit - left)}, Requested ${asked}. Please try again in ${goDuration(waitMs)}. ` +
        'Visit https://platform.openai.com/account/rate-limits to learn more.';
      // "unsuccessful requests contribute to your per-minute limit"
      if (kind === 'tokens') requests.take(1, now);
      refuse(res, now, kind, message, waitMs);
      return;
    }
    requests.take(1, now);
    tokens.take(reserved, now);

    // The answer: as long as the request asked for, never over its cap.
    const last = messages.at(-1)?.content;
    const question = typeof last === 'string' ? last : '';
    const asked = ANSWER_LENGTH.exec(question);
    const quote = `Re: ${question.replace(ANSWER_LENGTH, '').trim().slice(0, 60)}`;
    const wanted = asked === null ? tokenCount(quote) : Number(asked[1]);
    const completion = cap > 0 ? Math.min(cap, wanted) : wanted;
    const content = fill(quote, completion);
    const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    const settle = () => {
      // The up-front charge becomes the real one: what the cap held and the answer did not use flows back.
      tokens.take(usage.total_tokens - reserved);
      stats.answered++;
      stats.tokensServed += usage.total_tokens;
    };
    const id = `chatcmpl-${createHash('sha1').update(`${++sequence}`).digest('hex').slice(0, 24)}`;
    const created = Math.floor(Date.now() / 1000);
    const headers = { ...limitHeaders(now), 'openai-version': '2020-10-01', 'x-request-id': `req_${id.slice(9)}` };
    const generationMs = completion * msPerToken;

    if (body.stream !== true) {
      await delay(latencyMs + generationMs);
      settle();
      sendJson(
        res,
        200,
        { ...headers, 'openai-processing-ms': String(Math.round(latencyMs + generationMs)) },
        {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            { index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' },
          ],
          usage,
          service_tier: 'default',
          system_fingerprint: 'fp_mock',
        },
      );
      return;
    }

    // Streamed: `data:` events of chat.completion.chunk, then (with `stream_options.include_usage`) a
    // last chunk with empty `choices` and the usage, then `data: [DONE]` (API reference, "The chat
    // completion chunk object": "usage … only present when you set stream_options: {include_usage: true}").
    stats.streamed++;
    const includeUsage = body.stream_options?.include_usage === true;
    await delay(latencyMs);
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_mock', choices, ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
    res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]));
    const pieces = content.match(/.{1,48}/gs) ?? [];
    for (const piece of pieces) {
      await delay(generationMs / Math.max(1, pieces.length));
      if (res.destroyed) return settle(); // the caller went away; OpenAI bills what was generated all the same
      res.write(chunk([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
    }
    res.write(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]));
    settle();
    if (includeUsage) res.write(chunk([], { usage }));
    res.end('data: [DONE]\n\n');
  });

  return {
    ...server,
    refusals,
    stats: () => ({ ...stats, refused: { ...stats.refused } }),
  };
}

/** `quote` padded with words to about `tokens` tokens (4 characters each); cut when shorter. */
function fill(quote: string, tokens: number): string {
  const length = tokens * 4;
  if (quote.length >= length) return quote.slice(0, length);
  return (quote + ' ' + 'lore '.repeat(Math.ceil(length / 5))).slice(0, length);
}
