/**
 * A local Anthropic Messages API that bills as Anthropic documents it, for the examples. Real HTTP on
 * 127.0.0.1 and a free port; no network.
 *
 * Sources for each rule (platform.claude.com/docs/en/api/rate-limits, "Rate limits"; formerly docs.anthropic.com/en/api/rate-limits):
 * - "Our rate limits for the Messages API are measured in requests per minute (RPM), input tokens per
 *   minute (ITPM), and output tokens per minute (OTPM)": three limits, each scaled from a minute down
 *   to `windowMs`.
 * - "We use the token bucket algorithm to do rate limiting. This means that your capacity is
 *   continuously replenished up to your maximum limit, rather than being reset at fixed intervals":
 *   each limit is a bucket of the limit's size that refills all of it over `windowMs`.
 * - "ITPM rate limits are estimated at the beginning of each request, and the estimate is adjusted
 *   during the request to reflect the actual number of input tokens used": the input is charged on
 *   arrival (about 4 characters a token) and settled to `usage.input_tokens`, which here is the same.
 * - "OTPM rate limits are estimated based on max_tokens at the beginning of each request, and the
 *   estimate is adjusted at the end of the request to reflect the actual number of output tokens used":
 *   `max_tokens` is taken from the output bucket on arrival and the unused part goes back at the end.
 * - "If you exceed any of the rate limits you will get a 429 error describing which rate limit was
 *   exceeded, along with a retry-after header indicating how long to wait": body
 *   `{"type":"error","error":{"type":"rate_limit_error","message":…}}` (platform.claude.com/docs/en/api/errors),
 *   `retry-after` in whole seconds. Nothing says a refused request is charged: here it is not.
 * - "Response headers": `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,
 *   remaining,reset}` on every answer; the reset is "the time when the … rate limit will be fully
 *   replenished, provided in RFC 3339 format"; token remainders are "rounded to the nearest thousand"
 *   (so they can say up to 499 more than is left: a client must not spend them to the last token);
 *   `anthropic-ratelimit-tokens-*` is "the most restrictive limit currently in effect … If Workspace
 *   limits do not apply, … the total tokens remaining, where total is the sum of input and output".
 * - Streaming (platform.claude.com/docs/en/build-with-claude/streaming): `message_start` (its usage has the
 *   input tokens), `content_block_start`, `ping`, `content_block_delta`s, `content_block_stop`,
 *   `message_delta` ("the token counts shown in the usage field of the message_delta event are
 *   cumulative"), `message_stop`.
 *
 * Keep the limits at their real sizes (e.g. Tier 1 Sonnet: 50 RPM, 30,000 ITPM, 8,000 OTPM) and scale
 * only the minute: the thousands the headers round to stay small against them. An answer is as long as
 * the request asks by ending its last message with `(answer in N tokens)`, never over `max_tokens`.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { readJson, sendJson, startLocalServer, type LocalServer } from './local-server.js';
import { Bucket, tokenCount } from './mock-openai.js';

export interface AnthropicMockOptions {
  /** Requests per `windowMs` (RPM, with the minute scaled down). */
  requests: number;
  /** Input tokens per `windowMs` (ITPM). */
  inputTokens: number;
  /** Output tokens per `windowMs` (OTPM). */
  outputTokens: number;
  /** The minute, scaled down: 60_000 is Anthropic's own. */
  windowMs: number;
  /** Time to the first byte of an answer. @default 20 */
  latencyMs?: number;
  /** Generation time per output token, spread over a stream's deltas. @default 0.1 */
  msPerToken?: number;
  /** The only key accepted (`x-api-key`, or `authorization: Bearer`). @default 'test' */
  apiKey?: string;
}

export interface AnthropicMockStats {
  answered: number;
  streamed: number;
  /** 429s by the limit that refused them. */
  refused: { requests: number; 'input-tokens': number; 'output-tokens': number };
  /** What the answered requests really used. */
  inputTokens: number;
  outputTokens: number;
  /** The lowest each bucket went: below 0 only if a settlement cost more than was reserved. */
  lowest: { requests: number; 'input-tokens': number; 'output-tokens': number };
}

export interface AnthropicMock extends LocalServer {
  stats(): AnthropicMockStats;
  readonly refusals: readonly string[];
}

const ANSWER_LENGTH = /\(answer in (\d+) tokens\)\s*$/;
type Limit = 'requests' | 'input-tokens' | 'output-tokens';

/** The text of a message's content: a string or an array of blocks, of which the text blocks count. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block: { type?: unknown; text?: unknown }) => (block.type === 'text' && typeof block.text === 'string' ? block.text : ''))
    .join('');
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** RFC 3339, in UTC, to the millisecond: the minute is scaled down, so whole seconds would be too coarse. */
const rfc3339 = (msFromNow: number) => new Date(Date.now() + Math.ceil(msFromNow)).toISOString();
const toThousand = (tokens: number) => Math.max(0, Math.round(tokens / 1000) * 1000);

interface MessagesBody {
  model?: unknown;
  max_tokens?: unknown;
  messages?: unknown;
  system?: unknown;
  stream?: unknown;
}

/** `POST /v1/messages`, plain and streamed, under Anthropic's three limits (see the file's comment). */
export async function startAnthropicMock(options: AnthropicMockOptions): Promise<AnthropicMock> {
  const { windowMs, latencyMs = 20, msPerToken = 0.1, apiKey = 'test' } = options;
  const buckets: Record<Limit, Bucket> = {
    requests: new Bucket(options.requests, windowMs),
    'input-tokens': new Bucket(options.inputTokens, windowMs),
    'output-tokens': new Bucket(options.outputTokens, windowMs),
  };
  const stats: AnthropicMockStats = {
    answered: 0,
    streamed: 0,
    refused: { requests: 0, 'input-tokens': 0, 'output-tokens': 0 },
    inputTokens: 0,
    outputTokens: 0,
    lowest: { requests: options.requests, 'input-tokens': options.inputTokens, 'output-tokens': options.outputTokens },
  };
  const refusals: string[] = [];
  let sequence = 0;
  const note = () => {
    for (const limit of Object.keys(buckets) as Limit[]) stats.lowest[limit] = Math.min(stats.lowest[limit], buckets[limit].level());
  };

  const limitHeaders = () => {
    const header: Record<string, string> = {};
    for (const limit of Object.keys(buckets) as Limit[]) {
      const bucket = buckets[limit];
      const left = Math.max(0, Math.floor(bucket.level()));
      header[`anthropic-ratelimit-${limit}-limit`] = String(bucket.capacity);
      header[`anthropic-ratelimit-${limit}-remaining`] = String(limit === 'requests' ? left : toThousand(left));
      header[`anthropic-ratelimit-${limit}-reset`] = rfc3339(bucket.untilFull());
    }
    const input = buckets['input-tokens'];
    const output = buckets['output-tokens'];
    header['anthropic-ratelimit-tokens-limit'] = String(input.capacity + output.capacity);
    header['anthropic-ratelimit-tokens-remaining'] = String(toThousand(Math.max(0, input.level()) + Math.max(0, output.level())));
    header['anthropic-ratelimit-tokens-reset'] = rfc3339(Math.max(input.untilFull(), output.untilFull()));
    return header;
  };

  const error = (res: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}) => {
    const requestId = `req_mock${String(++sequence).padStart(12, '0')}`;
    sendJson(res, status, { 'request-id': requestId, ...headers }, { type: 'error', error: { type, message }, request_id: requestId });
  };

  const server = await startLocalServer(async (req, res) => {
    const body = (await readJson(req)) as MessagesBody | undefined;
    // The API reference sends the key as `x-api-key`; @anthropic-ai/sdk 1.x sends `authorization: Bearer`.
    if (req.headers['x-api-key'] !== apiKey && req.headers.authorization !== `Bearer ${apiKey}`) {
      return error(res, 401, 'authentication_error', 'invalid x-api-key');
    }
    if (req.method !== 'POST' || req.url !== '/v1/messages' || body === undefined || !Array.isArray(body.messages)) {
      return error(res, 404, 'not_found_error', `Not found: ${req.method ?? ''} ${req.url ?? ''}`);
    }
    const maxTokens = Number(body.max_tokens);
    if (!Number.isInteger(maxTokens) || maxTokens < 1) return error(res, 400, 'invalid_request_error', 'max_tokens: Field required');
    const model = typeof body.model === 'string' ? body.model : 'claude-sonnet-4-5';
    const messages = body.messages as Array<{ content?: unknown }>;
    const inputTokens = tokenCount(textOf(body.system) + messages.map((message) => textOf(message.content)).join(''));

    const asks: Record<Limit, number> = { requests: 1, 'input-tokens': inputTokens, 'output-tokens': maxTokens };
    const short = (Object.keys(buckets) as Limit[]).find((limit) => buckets[limit].level() < asks[limit]);
    if (short !== undefined) {
      stats.refused[short]++;
      const waitMs = buckets[short].until(asks[short]);
      const what = short === 'requests' ? 'requests' : short.replace('-', ' ');
      const message =
        `This request would exceed the rate limit for your organization (org-mock) of ${buckets[short].capacity.toLocaleString('en-US')} ` +
        `${what} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers ` +
        'for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.';
      refusals.push(message);
      return error(res, 429, 'rate_limit_error', message, {
        ...limitHeaders(),
        'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))),
      });
    }
    for (const limit of Object.keys(buckets) as Limit[]) buckets[limit].take(asks[limit]);
    note();

    const last = textOf(messages.at(-1)?.content);
    const asked = ANSWER_LENGTH.exec(last);
    const quote = `Re: ${last.replace(ANSWER_LENGTH, '').trim().slice(0, 60)}`;
    const outputTokens = Math.min(maxTokens, asked === null ? tokenCount(quote) : Number(asked[1]));
    const text = fill(quote, outputTokens);
    const settle = () => {
      // "adjusted at the end of the request to reflect the actual number of output tokens used"
      buckets['output-tokens'].take(outputTokens - maxTokens);
      note();
      stats.answered++;
      stats.inputTokens += inputTokens;
      stats.outputTokens += outputTokens;
    };
    const id = `msg_mock${createHash('sha1').update(`${++sequence}`).digest('hex').slice(0, 20)}`;
    const headers = { ...limitHeaders(), 'request-id': `req_${id.slice(4)}` };
    const usage = (output: number) => ({
      input_tokens: inputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: output,
    });
    const message = (content: unknown[], stop: string | null, output: number) => ({
      id,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage: usage(output),
    });
    const stopReason = outputTokens === maxTokens ? 'max_tokens' : 'end_turn';
    const generationMs = outputTokens * msPerToken;

    if (body.stream !== true) {
      await delay(latencyMs + generationMs);
      settle();
      sendJson(res, 200, headers, message([{ type: 'text', text }], stopReason, outputTokens));
      return;
    }
    stats.streamed++;
    await delay(latencyMs);
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const event = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('message_start', { message: message([], null, 1) });
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    event('ping', {});
    const pieces = text.match(/.{1,48}/gs) ?? [];
    for (const piece of pieces) {
      await delay(generationMs / Math.max(1, pieces.length));
      if (res.destroyed) return settle(); // the caller went away; what was generated is billed all the same
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } });
    }
    event('content_block_stop', { index: 0 });
    settle();
    event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
    event('message_stop', {});
    res.end();
  });

  return { ...server, refusals, stats: () => ({ ...stats, refused: { ...stats.refused }, lowest: { ...stats.lowest } }) };
}

/** `quote` padded with words to about `tokens` tokens (4 characters each); cut when shorter. */
function fill(quote: string, tokens: number): string {
  const length = tokens * 4;
  if (quote.length >= length) return quote.slice(0, length);
  return (quote + ' ' + 'lore '.repeat(Math.ceil(length / 5))).slice(0, length);
}
