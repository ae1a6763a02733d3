import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { readJson, sendJson, startLocalServer, type LocalServer } from './local-server.js';

export interface OpenAIMockOptions {
  /** Requests per window: the model's RPM, scaled down. */
  requests: number;
  /** Tokens per window: the model's TPM, scaled down. */
  tokens: number;
  windowMs: number;
  /** How long each answer takes, so requests really overlap. */
  latencyMs: number;
  /** The only key accepted (`authorization: Bearer …`). */
  apiKey: string;
}

export interface OpenAIMock extends LocalServer {
  /** The fewest tokens the server reported left (`x-ratelimit-remaining-tokens`). */
  leastTokensLeft(): number;
}

/** Dimensions of the mock's embeddings. */
export const DIMENSIONS = 8;

/**
 * `POST /v1/chat/completions` and `POST /v1/embeddings`, with OpenAI's rate limits: a request quota and
 * a token quota, each a bucket that refills continuously (all of it over `windowMs`, as an RPM refills
 * over a minute). A request costs its prompt's tokens (about 4 characters each) plus its
 * `max_completion_tokens`, which OpenAI counts up front. Every answer carries
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset as a Go duration (`1s`, `6m0s`,
 * `20ms`) until the bucket is full again; over the quota, a 429 with `retry-after-ms` and `retry-after`.
 */
export async function startOpenAIMock(options: OpenAIMockOptions): Promise<OpenAIMock> {
  const { windowMs, latencyMs, apiKey } = options;
  const requests = new Bucket(options.requests, windowMs);
  const tokens = new Bucket(options.tokens, windowMs);
  let leastTokensLeft = options.tokens;

  const server = await startLocalServer(async (req, res) => {
    const body = (await readJson(req)) as Record<string, unknown> | undefined;
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      const message = 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.';
      return sendJson(res, 401, {}, { error: { message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    }
    const route = req.method === 'POST' ? req.url : undefined;
    if (body === undefined || (route !== '/v1/chat/completions' && route !== '/v1/embeddings')) {
      return sendJson(
        res,
        404,
        {},
        { error: { message: `Invalid URL (${req.method} ${req.url})`, type: 'invalid_request_error', param: null, code: null } },
      );
    }
    const model = String(body.model);
    const inputs = route === '/v1/embeddings' ? [body.input].flat().map(String) : [];
    const prompt = route === '/v1/embeddings' ? inputs.join(' ') : JSON.stringify(body.messages);
    const cost = tokenCount(prompt) + Number(body.max_completion_tokens ?? body.max_tokens ?? 0);

    const now = performance.now();
    const short = requests.level(now) < 1 ? requests : tokens.level(now) < cost ? tokens : undefined;
    if (short === undefined) {
      requests.take(1, now);
      tokens.take(cost, now);
      leastTokensLeft = Math.min(leastTokensLeft, Math.floor(tokens.level(now)));
    }
    const headers = {
      'x-ratelimit-limit-requests': String(options.requests),
      'x-ratelimit-remaining-requests': String(Math.floor(requests.level(now))),
      'x-ratelimit-reset-requests': goDuration(requests.untilFull(now)),
      'x-ratelimit-limit-tokens': String(options.tokens),
      'x-ratelimit-remaining-tokens': String(Math.floor(tokens.level(now))),
      'x-ratelimit-reset-tokens': goDuration(tokens.untilFull(now)),
      'openai-version': '2020-10-01',
      'x-request-id': `req_${createHash('sha1').update(`${now}`).digest('hex').slice(0, 24)}`,
    };
    if (short !== undefined) {
      const kind = short === requests ? 'requests' : 'tokens';
      const waitMs = Math.ceil(short.until(kind === 'requests' ? 1 : cost, now));
      const message =
        `Rate limit reached for ${model} in organization org-example on ${kind} per min (${kind === 'requests' ? 'RPM' : 'TPM'}): ` +
        `Limit ${kind === 'requests' ? options.requests : options.tokens}, Requested ${kind === 'requests' ? 1 : cost}. ` +
        `Please try again in ${goDuration(waitMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
      const wait = { 'retry-after-ms': String(waitMs), 'retry-after': String(Math.ceil(waitMs / 1000)) };
      return sendJson(res, 429, { ...headers, ...wait }, { error: { message, type: kind, param: null, code: 'rate_limit_exceeded' } });
    }
    const answer = route === '/v1/embeddings' ? embeddings(model, inputs, body.encoding_format === 'base64') : chatCompletion(model, body);
    setTimeout(() => sendJson(res, 200, { ...headers, 'openai-processing-ms': String(latencyMs) }, answer), latencyMs);
  });
  return { ...server, leastTokensLeft: () => leastTokensLeft };
}

/** Holds up to `capacity`, refilling all of it over `windowMs`, continuously; starts full. */
class Bucket {
  readonly #capacity: number;
  readonly #perMs: number;
  #level: number;
  /** When `#level` was last brought up to date. */
  #at = performance.now();

  constructor(capacity: number, windowMs: number) {
    this.#capacity = capacity;
    this.#perMs = capacity / windowMs;
    this.#level = capacity;
  }

  level(now: number): number {
    this.#level = Math.min(this.#capacity, this.#level + (now - this.#at) * this.#perMs);
    this.#at = now;
    return this.#level;
  }

  take(amount: number, now: number): void {
    this.#level = this.level(now) - amount;
  }

  /** Milliseconds until `amount` is available. */
  until(amount: number, now: number): number {
    return Math.max(0, (amount - this.level(now)) / this.#perMs);
  }

  untilFull(now: number): number {
    return this.until(this.#capacity, now);
  }
}

function chatCompletion(model: string, body: Record<string, unknown>) {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<{ content?: unknown }>) : [];
  // A string, or an array of content parts, which this mock does not quote.
  const last = messages.at(-1)?.content;
  const question = typeof last === 'string' ? last : '';
  // The answer quotes the question, so a caller can tell that it got the answer to its own question.
  const content = `In short: ${question.slice(0, 60)}`;
  const promptTokens = tokenCount(JSON.stringify(messages));
  const completionTokens = tokenCount(content);
  return {
    id: `chatcmpl-${createHash('sha1').update(question).digest('hex').slice(0, 20)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: `${model}-2024-07-18`,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    service_tier: 'default',
    system_fingerprint: 'fp_mock',
  };
}

/** A vector per input, the same for the same text; base64 of little-endian float32s when asked (the SDK's default). */
function embeddings(model: string, inputs: string[], base64: boolean) {
  const data = inputs.map((input, index) => {
    const digest = createHash('sha256').update(input).digest();
    const vector = Float32Array.from({ length: DIMENSIONS }, (_, i) => ((digest[i] ?? 0) - 128) / 128);
    const embedding = base64 ? Buffer.from(vector.buffer).toString('base64') : [...vector];
    return { object: 'embedding', index, embedding };
  });
  const promptTokens = tokenCount(inputs.join(' '));
  return { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
}

/** OpenAI's rule of thumb: about 4 characters a token. */
function tokenCount(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Go's time.Duration format, as OpenAI's reset headers use it: `20ms`, `1.5s`, `6m0s`. */
function goDuration(ms: number): string {
  if (ms < 1) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const trim = (seconds: number) => String(Number(seconds.toFixed(3)));
  return ms < 60_000 ? `${trim(ms / 1000)}s` : `${Math.floor(ms / 60_000)}m${trim((ms % 60_000) / 1000)}s`;
}
