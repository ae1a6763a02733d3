import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openai } from '../../../src/meters/index.js';
import { awkwardCuts, eventStream, json, request, response, settle } from './helpers.js';

const CHAT = 'https://api.openai.com/v1/chat/completions';
const RESPONSES = 'https://api.openai.com/v1/responses';
const EMBEDDINGS = 'https://api.openai.com/v1/embeddings';

describe('openai(): estimate', () => {
  const meter = openai();
  const messages = [{ role: 'user', content: 'Say this is a test' }];
  /** The input part of the default estimate: the JSON body's characters / 4, rounded up. */
  const inputOf = (body: unknown): number => Math.ceil(JSON.stringify(body).length / 4);

  it.each([
    ['max_tokens', { model: 'gpt-4o', messages, max_tokens: 100 }, 100],
    ['max_completion_tokens', { model: 'o3', messages, max_completion_tokens: 250 }, 250],
    ['the larger of two caps', { model: 'gpt-4o', messages, max_tokens: 100, max_completion_tokens: 300 }, 300],
    ['n completions of the cap', { model: 'gpt-4o', messages, max_tokens: 100, n: 3 }, 300],
    ['n of the default cap', { model: 'gpt-4o', messages, n: 2 }, 8192],
    ['the default cap (4096) when none is set', { model: 'gpt-4o', messages }, 4096],
    ['the default when the cap is null', { model: 'gpt-4o', messages, max_tokens: null }, 4096],
    ['a cap of 0', { model: 'gpt-4o', messages, max_tokens: 0 }, 0],
  ])('Chat Completions: input plus %s', (_name, body, output) => {
    expect(meter.estimate(request(CHAT, body))).toEqual({ tokens: inputOf(body) + output });
  });

  it('Responses API: input plus max_output_tokens', () => {
    // platform.openai.com/docs/api-reference/responses/create
    const body = { model: 'gpt-4.1', input: 'Tell me a three sentence bedtime story about a unicorn.', max_output_tokens: 500 };
    expect(meter.estimate(request(RESPONSES, body))).toEqual({ tokens: inputOf(body) + 500 });
  });

  it.each([EMBEDDINGS, 'https://x.openai.azure.com/openai/deployments/ada/embeddings?api-version=2024-10-21'])(
    'Embeddings (%s): input only, no output',
    (url) => {
      // platform.openai.com/docs/api-reference/embeddings/create
      const body = { model: 'text-embedding-3-small', input: 'The food was delicious and the waiter...', encoding_format: 'float' };
      expect(meter.estimate(request(url, body))).toEqual({ tokens: inputOf(body) });
    },
  );

  it('counts characters of the text, not bytes', () => {
    const body = JSON.stringify({ input: 'ü'.repeat(40) });
    expect(openai({ defaultMaxTokens: 0 }).estimate(request(CHAT, body))).toEqual({ tokens: Math.ceil(body.length / 4) });
  });

  it('with a tokenizer, counts its tokens of the body', () => {
    const seen: string[] = [];
    const tokenizer = (text: string): number => {
      seen.push(text);
      return 41.2;
    };
    const body = { model: 'gpt-4o', messages, max_tokens: 10 };
    expect(openai({ tokenizer }).estimate(request(CHAT, body))).toEqual({ tokens: 42 + 10 });
    expect(seen).toEqual([JSON.stringify(body)]);
  });

  it('falls back to characters when the tokenizer throws or answers nonsense', () => {
    const body = { messages, max_tokens: 10 };
    for (const tokenizer of [
      () => Number.NaN,
      () => -1,
      () => 'many' as unknown as number,
      () => {
        throw new Error('no');
      },
    ]) {
      expect(openai({ tokenizer }).estimate(request(CHAT, body))).toEqual({ tokens: inputOf(body) + 10 });
    }
  });

  it('charsPerToken, defaultMaxTokens and currency are used', () => {
    const body = { messages };
    const meter = openai({ charsPerToken: 2, defaultMaxTokens: 50, currency: 'gpt-tokens' });
    expect(meter.estimate(request(CHAT, body))).toEqual({ 'gpt-tokens': Math.ceil(JSON.stringify(body).length / 2) + 50 });
  });

  it.each([
    ['no body', undefined],
    ['a body that is not JSON', 'model=gpt-4o'],
    ['JSON that is not an object', '[1,2]'],
    ['JSON null', 'null'],
    ['cut-off JSON', '{"model":'],
  ])('nothing for %s', (_name, body) => {
    expect(meter.estimate(request(CHAT, body))).toBeUndefined();
  });
});

describe('openai(): usage', () => {
  const meter = openai();
  const ok = response(200, json, CHAT);
  const streamed = response(200, eventStream, CHAT);

  // The Chat Completions object (platform.openai.com/docs/api-reference/chat/object), with text
  // outside ASCII so that the cuts below fall inside characters too.
  const chatCompletion = JSON.stringify({
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion',
    created: 1741570283,
    model: 'gpt-4o-2024-08-06',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'Ein Holzsteg führt durch eine grüne Wiese 🌾 ("usage": none here).',
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: 1117,
      completion_tokens: 46,
      total_tokens: 1163,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
    service_tier: 'default',
    system_fingerprint: 'fp_fc9f1d7035',
  });

  it('Chat Completions: total_tokens', () => {
    expect(settle(meter, ok, chatCompletion)).toEqual({ tokens: 1163 });
  });

  it.each(awkwardCuts(chatCompletion).filter((_, i) => i % 7 === 0))('Chat Completions in pieces: $name', ({ pieces }) => {
    expect(settle(meter, ok, pieces)).toEqual({ tokens: 1163 });
  });

  it('Chat Completions without total_tokens: prompt + completion tokens', () => {
    expect(settle(meter, ok, '{"usage":{"prompt_tokens":9,"completion_tokens":12}}')).toEqual({ tokens: 21 });
  });

  it('the currency option names the settled currency', () => {
    expect(settle(openai({ currency: 'gpt-tokens' }), ok, chatCompletion)).toEqual({ 'gpt-tokens': 1163 });
  });

  it('Responses API: its usage (platform.openai.com/docs/api-reference/responses/object)', () => {
    const body = JSON.stringify({
      id: 'resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41',
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'In a peaceful grove…', annotations: [] }] }],
      usage: {
        input_tokens: 36,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 87,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 123,
      },
      user: null,
      metadata: {},
    });
    expect(settle(meter, response(200, json, RESPONSES), body)).toEqual({ tokens: 123 });
    expect(settle(meter, response(200, json, RESPONSES), '{"usage":{"input_tokens":36,"output_tokens":87}}')).toEqual({ tokens: 123 });
  });

  it('Embeddings: prompt tokens (platform.openai.com/docs/api-reference/embeddings/object)', () => {
    const body = JSON.stringify({
      object: 'list',
      data: [{ object: 'embedding', embedding: Array.from({ length: 1536 }, (_, i) => Math.sin(i) / 100), index: 0 }],
      model: 'text-embedding-ada-002',
      usage: { prompt_tokens: 8, total_tokens: 8 },
    });
    expect(settle(meter, response(200, json, EMBEDDINGS), body)).toEqual({ tokens: 8 });
    expect(settle(meter, response(200, json, EMBEDDINGS), '{"data":[],"usage":{"prompt_tokens":8}}')).toEqual({ tokens: 8 });
  });

  // A Chat Completions stream with `stream_options: {"include_usage": true}`: every chunk carries
  // `"usage": null` but the last, which has `"choices": []` and the usage (openai-node
  // src/resources/chat/completions/completions.ts, `ChatCompletionChunk.usage`).
  const chunk = (choices: unknown[], usage: unknown): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-123', object: 'chat.completion.chunk', created: 1694268190, model: 'gpt-4o-mini', system_fingerprint: 'fp_44709d6fcb', choices, usage })}\n\n`;
  const chatStream =
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], null) +
    chunk([{ index: 0, delta: { content: 'Grüße 🌍' }, logprobs: null, finish_reason: null }], null) +
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], null) +
    chunk([], { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }) +
    'data: [DONE]\n\n';

  it('Chat Completions stream: the last chunk’s usage', () => {
    expect(settle(meter, streamed, chatStream)).toEqual({ tokens: 21 });
  });

  it.each(awkwardCuts(chatStream).filter((_, i) => i % 5 === 0))('Chat Completions stream in pieces: $name', ({ pieces }) => {
    expect(settle(meter, streamed, pieces)).toEqual({ tokens: 21 });
  });

  it('a Chat Completions stream without include_usage: the estimate stands', () => {
    const noUsage = chatStream.replace(/,"usage":(null|\{[^}]*\})/g, '');
    expect(noUsage).not.toContain('usage');
    expect(settle(meter, streamed, noUsage)).toBeUndefined();
  });

  // A Responses API stream (platform.openai.com/docs/api-reference/responses-streaming): usage is
  // null until `response.completed`.
  const responsesStream = [
    'event: response.created',
    `data: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { id: 'resp_67c9', object: 'response', status: 'in_progress', output: [], usage: null } })}`,
    '',
    'event: response.output_text.delta',
    `data: ${JSON.stringify({ type: 'response.output_text.delta', item_id: 'msg_67c9', output_index: 0, content_index: 0, delta: 'Hi 👋', sequence_number: 4 })}`,
    '',
    'event: response.completed',
    `data: ${JSON.stringify({
      type: 'response.completed',
      sequence_number: 7,
      response: {
        id: 'resp_67c9',
        object: 'response',
        status: 'completed',
        output: [
          { type: 'message', content: [{ type: 'output_text', text: 'Hi 👋 there! How can I assist you today?', annotations: [] }] },
        ],
        usage: { input_tokens: 37, output_tokens: 11, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 48 },
        user: null,
        metadata: {},
      },
    })}`,
    '',
    '',
  ].join('\n');

  it('Responses API stream: response.completed’s usage', () => {
    expect(settle(meter, response(200, eventStream, RESPONSES), responsesStream)).toEqual({ tokens: 48 });
  });

  it.each(awkwardCuts(responsesStream).filter((_, i) => i % 5 === 0))('Responses API stream in pieces: $name', ({ pieces }) => {
    expect(settle(meter, response(200, eventStream, RESPONSES), pieces)).toEqual({ tokens: 48 });
  });

  it('a Responses API stream cut before response.completed: the estimate stands', () => {
    const cut = responsesStream.slice(0, responsesStream.indexOf('event: response.completed'));
    expect(settle(meter, response(200, eventStream, RESPONSES), cut)).toBeUndefined();
  });

  it('no reader for a refusal or a body that is neither JSON nor an event stream', () => {
    expect(meter.usage?.(response(429, json, CHAT))).toBeUndefined();
    expect(meter.usage?.(response(200, { 'content-type': 'audio/mpeg' }, 'https://api.openai.com/v1/audio/speech'))).toBeUndefined();
  });

  it('no usage in a JSON body: the estimate stands', () => {
    expect(settle(meter, ok, '{"id":"x","usage":null}')).toBeUndefined();
    expect(settle(meter, ok, '{"id":"x","usage":{"total_tokens":-1}}')).toBeUndefined();
    expect(settle(meter, ok, 'not json at all')).toBeUndefined();
  });
});

describe('openai(): budgets', () => {
  const meter = openai();
  const budgets = (headers: Record<string, string>) => meter.budgets?.(response(200, headers));

  it('OpenAI: requests and tokens, resets as Go durations', () => {
    // platform.openai.com/docs/guides/rate-limits, "Rate limits in headers".
    expect(
      budgets({
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-limit-tokens': '150000',
        'x-ratelimit-remaining-requests': '59',
        'x-ratelimit-remaining-tokens': '149984',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-reset-tokens': '6m0s',
      }),
    ).toEqual([
      { counts: 'requests', remaining: 59, resetMs: 1000, limit: 60, refills: true },
      { counts: 'tokens', remaining: 149_984, resetMs: 360_000, limit: 150_000, refills: true },
    ]);
    expect(budgets({ 'x-ratelimit-remaining-tokens': '10', 'x-ratelimit-reset-tokens': '20ms' })).toEqual([
      { counts: 'tokens', remaining: 10, resetMs: 20 },
    ]);
  });

  it('the token budget is in the configured currency', () => {
    const headers = new Headers({ 'x-ratelimit-remaining-tokens': '5', 'x-ratelimit-reset-tokens': '1h2m3.5s' });
    expect(openai({ currency: 'gpt-tokens' }).budgets?.({ status: 200, headers, request: request(CHAT, undefined) })).toEqual([
      { counts: 'gpt-tokens', remaining: 5, resetMs: 3_723_500 },
    ]);
  });

  it('Groq: x-ratelimit-*-requests count requests per day, and are still the remaining budget until that reset', () => {
    // console.groq.com/docs/rate-limits, "Rate Limit Headers": the requests figures are RPD.
    expect(
      budgets({
        'x-ratelimit-limit-requests': '14400',
        'x-ratelimit-limit-tokens': '18000',
        'x-ratelimit-remaining-requests': '14370',
        'x-ratelimit-remaining-tokens': '17997',
        'x-ratelimit-reset-requests': '2m59.56s',
        'x-ratelimit-reset-tokens': '7.66s',
      }),
    ).toEqual([
      { counts: 'requests', remaining: 14_370, resetMs: 179_560, limit: 14_400, refills: true },
      { counts: 'tokens', remaining: 17_997, resetMs: 7660, limit: 18_000, refills: true },
    ]);
  });

  it('Azure OpenAI: resets in plain seconds', () => {
    expect(
      budgets({
        'x-ratelimit-remaining-tokens': '79000',
        'x-ratelimit-reset-tokens': '60',
        'x-ratelimit-remaining-requests': '479',
        'x-ratelimit-reset-requests': '10',
      }),
    ).toEqual([
      { counts: 'requests', remaining: 479, resetMs: 10_000 },
      { counts: 'tokens', remaining: 79_000, resetMs: 60_000 },
    ]);
  });

  it('Azure OpenAI: -1 and 0 say nothing, and a budget without a reset is no budget', () => {
    // learn.microsoft.com/en-us/answers/questions/5625878 (Responses API on Azure).
    expect(
      budgets({ 'x-ratelimit-limit-tokens': '-1', 'x-ratelimit-remaining-tokens': '-1', 'x-ratelimit-reset-tokens': '0' }),
    ).toBeUndefined();
    expect(budgets({ 'x-ratelimit-remaining-tokens': '500', 'x-ratelimit-reset-tokens': '0' })).toBeUndefined();
    expect(budgets({ 'x-ratelimit-remaining-tokens': '500', 'x-ratelimit-reset-tokens': '-1' })).toBeUndefined();
    expect(budgets({ 'x-ratelimit-remaining-tokens': '-1', 'x-ratelimit-reset-tokens': '60' })).toBeUndefined();
    expect(budgets({ 'x-ratelimit-remaining-requests': '3' })).toBeUndefined();
  });

  it('Mistral: the minute headers, with a reset no later than a minute', () => {
    // mistralai/client-ts#169: what api.mistral.ai sends.
    expect(
      budgets({
        'x-ratelimit-limit-tokens-minute': '5000000',
        'x-ratelimit-remaining-tokens-minute': '4999911',
        'x-ratelimit-tokens-query-cost': '52',
        'x-ratelimit-limit-req-minute': '720',
        'x-ratelimit-remaining-req-minute': '717',
        'x-ratelimit-limit-tokens-month': '200000000',
        'x-ratelimit-remaining-tokens-month': '1',
      }),
    ).toEqual([
      { counts: 'requests', remaining: 717, resetMs: 60_000 },
      { counts: 'tokens', remaining: 4_999_911, resetMs: 60_000 },
    ]);
  });

  it('a -minute reset header, when sent, is used (Cerebras: seconds)', () => {
    expect(budgets({ 'x-ratelimit-remaining-tokens-minute': '12000', 'x-ratelimit-reset-tokens-minute': '45' })).toEqual([
      { counts: 'tokens', remaining: 12_000, resetMs: 45_000 },
    ]);
  });

  it('no rate-limit headers: no budgets; garbage: no budgets', () => {
    expect(budgets({ 'content-type': 'application/json' })).toBeUndefined();
    expect(budgets({ 'x-ratelimit-remaining-tokens': 'lots', 'x-ratelimit-reset-tokens': 'soon' })).toBeUndefined();
  });
});

describe('openai(): refusal', () => {
  const meter = openai();
  const refusal = (body: string) => meter.refusal?.(response(429, json, CHAT), body);

  it('tokens per minute: only work that costs tokens waits', () => {
    // The body as OpenAI sends it (Pythagora-io/gpt-pilot#17); the OpenAI cookbook "How to handle rate limits".
    const body = JSON.stringify({
      error: {
        message:
          'Rate limit reached for 10KTPM-200RPM in organization org-WyXXXXXXXXX on tokens per min. Limit: 10000 / min. Please try again in 6ms. Contact us through our help center at help.openai.com if you continue to have issues.',
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(refusal(body)).toEqual({ counts: ['tokens'] });
    expect(openai({ currency: 'gpt-tokens' }).refusal?.(response(429, json, CHAT), body)).toEqual({ counts: ['gpt-tokens'] });
  });

  it('Groq’s tokens refusal, the same shape (Aider-AI/aider#3265)', () => {
    const body =
      '{"error":{"message":"Rate limit reached for model gemma2-9b-it in organization org_x service tier on_demand on tokens per minute (TPM): Limit 15000, Used 11972, Requested 4351. Please try again in 5.289s. Visit https://console.groq.com/docs/rate-limits for more information.","type":"tokens","code":"rate_limit_exceeded"}}';
    expect(refusal(body)).toEqual({ counts: ['tokens'] });
  });

  it('requests per minute: every request waits', () => {
    const body = JSON.stringify({
      error: {
        message: 'Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1.',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(refusal(body)).toEqual({ counts: ['requests'] });
  });

  it('the message decides when the type does not', () => {
    const tpm =
      '{"error":{"message":"Rate limit reached for gpt-4 on tokens per min (TPM): Limit 10000","type":"rate_limit_error","code":"rate_limit_exceeded"}}';
    const rpm =
      '{"error":{"message":"Rate limit reached for gpt-4 on requests per day (RPD): Limit 200","type":"rate_limit_error","code":"rate_limit_exceeded"}}';
    expect(refusal(tpm)).toEqual({ counts: ['tokens'] });
    expect(refusal(rpm)).toEqual({ counts: ['requests'] });
    // The 2023 form (gitlab.com/wally-the-wobot/wally/-/issues/62).
    expect(
      refusal(
        '{"error":{"message":"Rate limit reached for gpt-4 on tokens_usage_based per min","type":"tokens_usage_based","code":"rate_limit_exceeded"}}',
      ),
    ).toEqual({
      counts: ['tokens'],
    });
  });

  it('insufficient_quota is fatal, as type or as code', () => {
    // The body as in ChatGPTNextWeb/NextChat#4101 (code set) and #1792 (code null).
    const fatal = "OpenAI says the account's quota is spent (insufficient_quota): waiting will not help; check the plan and billing";
    const message =
      'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.';
    expect(refusal(JSON.stringify({ error: { message, type: 'insufficient_quota', param: null, code: 'insufficient_quota' } }))).toEqual({
      fatal,
    });
    expect(refusal(JSON.stringify({ error: { message, type: 'insufficient_quota', param: null, code: null } }))).toEqual({ fatal });
    expect(refusal(JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: 'insufficient_quota' } }))).toEqual(
      { fatal },
    );
  });

  it('reads a body cut short at its first kilobytes', () => {
    const body = JSON.stringify({
      error: { type: 'tokens', code: 'rate_limit_exceeded', message: `Rate limit reached ${'x'.repeat(5000)}` },
    });
    expect(refusal(body.slice(0, 4096))).toEqual({ counts: ['tokens'] });
    expect(refusal('{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","par')).toHaveProperty('fatal');
  });

  it('anything else: undefined (every request waits)', () => {
    expect(refusal('{"error":{"message":"Too many requests","type":"rate_limit_error","code":"slow_down"}}')).toBeUndefined();
    expect(refusal('<html><body>503 Service Unavailable</body></html>')).toBeUndefined();
    expect(refusal('')).toBeUndefined();
  });
});

describe('openai(): garbage never throws', () => {
  it('any body, header or chunk', () => {
    const meter = openai();
    fc.assert(
      fc.property(
        fc.option(fc.oneof(fc.string(), fc.json()), { nil: undefined }),
        fc.dictionary(
          fc.constantFrom('x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens', 'content-type'),
          fc.string().filter((s) => !/[\r\n\0]/.test(s)),
        ),
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }),
        (body, headers, chunks) => {
          meter.estimate(request(CHAT, body));
          const at = response(200, { ...headers, 'content-type': 'text/event-stream' }, CHAT);
          meter.budgets?.(at);
          const reader = meter.usage?.(at);
          for (const chunk of chunks) reader?.chunk(chunk);
          reader?.end();
          meter.refusal?.(at, body ?? '');
        },
      ),
    );
  });
});
