import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anthropic } from '../../../src/meters/index.js';
import { awkwardCuts, eventStream, json, request, response, settle } from './helpers.js';

const MESSAGES = 'https://api.anthropic.com/v1/messages';

describe('anthropic(): estimate', () => {
  // docs.anthropic.com/en/api/messages, the request example.
  const body = { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Hello, world' }] };
  const chars = JSON.stringify(body).length;

  it('input tokens from the body’s characters / 4, output tokens = max_tokens', () => {
    expect(anthropic().estimate(request(MESSAGES, body))).toEqual({ 'input-tokens': Math.ceil(chars / 4), 'output-tokens': 1024 });
  });

  it('charsPerToken and tokenizer', () => {
    expect(anthropic({ charsPerToken: 3 }).estimate(request(MESSAGES, body))).toEqual({
      'input-tokens': Math.ceil(chars / 3),
      'output-tokens': 1024,
    });
    expect(anthropic({ tokenizer: (text) => text.split(' ').length }).estimate(request(MESSAGES, body))).toEqual({
      'input-tokens': JSON.stringify(body).split(' ').length,
      'output-tokens': 1024,
    });
  });

  it('no max_tokens (a request Anthropic refuses): input tokens only', () => {
    expect(anthropic().estimate(request(MESSAGES, { messages: [] }))).toEqual({ 'input-tokens': Math.ceil('{"messages":[]}'.length / 4) });
  });

  it.each([undefined, 'plain text', '[]', '{"cut'])('nothing for the body %j', (text) => {
    expect(anthropic().estimate(request(MESSAGES, text))).toBeUndefined();
  });
});

describe('anthropic(): usage', () => {
  const ok = response(200, json, MESSAGES);
  const streamed = response(200, eventStream, MESSAGES);

  // docs.anthropic.com/en/api/messages, the response example, with prompt-cache counts.
  const message = JSON.stringify({
    id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5',
    content: [{ type: 'text', text: 'Hi! My name is Claude. Grüße 🌍' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 2095, cache_creation_input_tokens: 100, cache_read_input_tokens: 4000, output_tokens: 503 },
  });

  it('a Message: input (with cache writes, not cache reads) and output tokens', () => {
    expect(settle(anthropic(), ok, message)).toEqual({ 'input-tokens': 2195, 'output-tokens': 503 });
  });

  it('countCacheReads: cache reads count as input too (the † models)', () => {
    expect(settle(anthropic({ countCacheReads: true }), ok, message)).toEqual({ 'input-tokens': 6195, 'output-tokens': 503 });
  });

  it('a Message without cache counts', () => {
    expect(settle(anthropic(), ok, '{"type":"message","usage":{"input_tokens":25,"output_tokens":15}}')).toEqual({
      'input-tokens': 25,
      'output-tokens': 15,
    });
  });

  it.each(awkwardCuts(message).filter((_, i) => i % 7 === 0))('a Message in pieces: $name', ({ pieces }) => {
    expect(settle(anthropic(), ok, pieces)).toEqual({ 'input-tokens': 2195, 'output-tokens': 503 });
  });

  // The stream of docs.anthropic.com/en/docs/build-with-claude/streaming ("Basic streaming
  // request"), its spacing kept, with text outside ASCII and two message_delta events: counts are
  // totals so far, the last wins (@anthropic-ai/sdk src/lib/MessageStream.ts).
  const stream = [
    'event: message_start',
    'data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-1-20250805", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 1000, "output_tokens": 1}}}',
    '',
    'event: content_block_start',
    'data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}',
    '',
    'event: ping',
    'data: {"type": "ping"}',
    '',
    'event: content_block_delta',
    'data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Grüße 🌍, \\"usage\\": {\\"output_tokens\\": 999}"}}',
    '',
    'event: content_block_stop',
    'data: {"type": "content_block_stop", "index": 0}',
    '',
    'event: message_delta',
    'data: {"type": "message_delta", "delta": {"stop_reason": null, "stop_sequence":null}, "usage": {"output_tokens": 7}}',
    '',
    'event: message_delta',
    'data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}',
    '',
    'event: message_stop',
    'data: {"type": "message_stop"}',
    '',
    '',
  ].join('\n');

  it('a stream: input from message_start, output from the last message_delta', () => {
    expect(settle(anthropic(), streamed, stream)).toEqual({ 'input-tokens': 30, 'output-tokens': 15 });
  });

  it.each(awkwardCuts(stream).filter((_, i) => i % 5 === 0))('a stream in pieces: $name', ({ pieces }) => {
    expect(settle(anthropic(), streamed, pieces)).toEqual({ 'input-tokens': 30, 'output-tokens': 15 });
  });

  it('a message_delta that carries input counts (server tools) replaces them', () => {
    const withInput = stream.replace(
      '"usage": {"output_tokens": 15}',
      '"usage": {"input_tokens": 40, "cache_creation_input_tokens": 5, "output_tokens": 15}',
    );
    expect(settle(anthropic(), streamed, withInput)).toEqual({ 'input-tokens': 45, 'output-tokens': 15 });
  });

  it('a stream that never reaches a message_delta: the estimate stands', () => {
    const cut = stream.slice(0, stream.indexOf('event: message_delta'));
    expect(settle(anthropic(), streamed, cut)).toBeUndefined();
  });

  it('an error event mid-stream, and no usage: the estimate stands', () => {
    const overloaded = 'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n';
    expect(settle(anthropic(), streamed, overloaded)).toBeUndefined();
  });

  it('no reader for a refusal', () => {
    expect(anthropic().usage?.(response(429, json, MESSAGES))).toBeUndefined();
  });
});

describe('anthropic(): budgets', () => {
  // tidyllm's recording of a real response (rdrr.io/cran/tidyllm, tests/testthat/claude/
  // api.anthropic.com/v1/messages-e050b5-POST.R), the clock set two seconds before its Date.
  const headers = {
    date: 'Thu, 21 Aug 2025 12:41:00 GMT',
    'anthropic-ratelimit-input-tokens-limit': '80000',
    'anthropic-ratelimit-input-tokens-remaining': '80000',
    'anthropic-ratelimit-input-tokens-reset': '2025-08-21T12:40:59Z',
    'anthropic-ratelimit-output-tokens-limit': '16000',
    'anthropic-ratelimit-output-tokens-remaining': '16000',
    'anthropic-ratelimit-output-tokens-reset': '2025-08-21T12:41:00Z',
    'anthropic-ratelimit-requests-limit': '1000',
    'anthropic-ratelimit-requests-remaining': '999',
    'anthropic-ratelimit-requests-reset': '2025-08-21T12:40:59Z',
    'anthropic-ratelimit-tokens-limit': '96000',
    'anthropic-ratelimit-tokens-remaining': '96000',
    'anthropic-ratelimit-tokens-reset': '2025-08-21T12:40:59Z',
  };
  const now = (): number => Date.UTC(2025, 7, 21, 12, 40, 58);

  it('requests, input tokens and output tokens, until their RFC 3339 resets (the combined tokens-* is not read)', () => {
    expect(anthropic({ now }).budgets?.(response(200, headers))).toEqual([
      { counts: 'requests', remaining: 999, resetMs: 1000, limit: 1000, refills: true },
      { counts: 'input-tokens', remaining: 80_000, resetMs: 1000, limit: 80_000, refills: true },
      { counts: 'output-tokens', remaining: 16_000, resetMs: 2000, limit: 16_000, refills: true },
    ]);
  });

  it('reads the clock for every response', () => {
    let at = now();
    const meter = anthropic({ now: () => at });
    at += 500;
    expect(meter.budgets?.(response(200, headers))?.[0]).toEqual({
      counts: 'requests',
      remaining: 999,
      resetMs: 500,
      limit: 1000,
      refills: true,
    });
  });

  it('a reset in the past or not RFC 3339 is no budget', () => {
    const later = (): number => Date.UTC(2025, 7, 21, 12, 41, 0);
    expect(anthropic({ now: later }).budgets?.(response(200, headers))).toBeUndefined();
    expect(
      anthropic({ now }).budgets?.(
        response(200, { 'anthropic-ratelimit-requests-remaining': '5', 'anthropic-ratelimit-requests-reset': '1755780059' }),
      ),
    ).toBeUndefined();
  });

  it('uses the real clock by default', () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const [budget] =
      anthropic().budgets?.(response(200, { 'anthropic-ratelimit-requests-remaining': '5', 'anthropic-ratelimit-requests-reset': soon })) ??
      [];
    expect(budget?.resetMs).toBeGreaterThan(55_000);
    expect(budget?.resetMs).toBeLessThanOrEqual(60_000);
  });
});

describe('anthropic(): refusal', () => {
  const meter = anthropic();
  // The body of a rate-limit 429 (docs.anthropic.com/en/api/errors; the message as in
  // bhouston/mycoder#62 and anthropics/claude-code#55132).
  const limited = (limit: string): string =>
    JSON.stringify({
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: `This request would exceed the rate limit for your organization (d3f27ff7-9afe-4ee2-9645-76ecfc73c2b7) of ${limit}. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`,
      },
    });
  const withRetryAfter = response(429, { ...json, 'retry-after': '12' }, MESSAGES);

  it.each([
    ['40,000 input tokens per minute', ['input-tokens']],
    ['8,000 output tokens per minute', ['output-tokens']],
    ['50 requests per minute', ['requests']],
  ])('a 429 for %s holds work that costs in it', (limit, counts) => {
    expect(meter.refusal?.(withRetryAfter, limited(limit))).toEqual({ counts });
  });

  it('the newer wording ("your organization\'s rate limit of …") too', () => {
    const body =
      '{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your organization\'s rate limit of 30,000 input tokens per minute (org: 9d50, model: claude-sonnet-4-6)."}}';
    expect(meter.refusal?.(withRetryAfter, body)).toEqual({ counts: ['input-tokens'] });
  });

  it('a 429 that names no currency: every request waits', () => {
    expect(
      meter.refusal?.(withRetryAfter, '{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}}'),
    ).toBeUndefined();
  });

  it('a 429 without retry-after is a spend cap: fatal', () => {
    const refusal = meter.refusal?.(response(429, json, MESSAGES), limited('40,000 input tokens per minute'));
    expect(refusal?.fatal).toMatch(/429 and no retry-after.*spend cap.*waiting will not help/);
    expect(refusal?.counts).toBeUndefined();
  });

  it('the monthly spend limit is fatal even with retry-after (NousResearch/hermes-agent#91091)', () => {
    const body =
      '{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account\'s monthly spend limit. Please try again later."}}';
    expect(meter.refusal?.(withRetryAfter, body)?.fatal).toMatch(/monthly spend limit: waiting will not help/);
  });

  it('529 overloaded_error is not a rate limit', () => {
    const body = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
    expect(meter.refusal?.(response(529, json, MESSAGES), body)).toBeUndefined();
    expect(meter.refusal?.(response(429, json, MESSAGES), body)).toBeUndefined();
    expect(meter.refusal?.(response(503, json, MESSAGES), '')).toBeUndefined();
  });

  it('reads a body cut short', () => {
    expect(meter.refusal?.(withRetryAfter, limited('8,000 output tokens per minute').slice(0, 220))).toEqual({ counts: ['output-tokens'] });
  });
});

describe('anthropic(): garbage never throws', () => {
  it('any body, header or chunk', () => {
    const meter = anthropic();
    fc.assert(
      fc.property(
        fc.option(fc.oneof(fc.string(), fc.json()), { nil: undefined }),
        fc.dictionary(
          fc.constantFrom('anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-reset', 'retry-after'),
          fc.string().filter((s) => !/[\r\n\0]/.test(s)),
        ),
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }),
        fc.constantFrom(200, 429, 529),
        (body, headers, chunks, status) => {
          meter.estimate(request(MESSAGES, body));
          for (const type of ['text/event-stream', 'application/json']) {
            const at = response(status, { ...headers, 'content-type': type }, MESSAGES);
            meter.budgets?.(at);
            const reader = meter.usage?.(at);
            for (const chunk of chunks) reader?.chunk(chunk);
            reader?.end();
            meter.refusal?.(at, body ?? '');
          }
        },
      ),
    );
  });
});
