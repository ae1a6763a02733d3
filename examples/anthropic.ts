/**
 * The Anthropic SDK under the client's limits: requests, input tokens and output tokens. Run it from
 * the repository root: `npx tsx examples/anthropic.ts`.
 *
 * A review job sends 30 long contracts to Claude, half of them streamed, each with `max_tokens: 1024`
 * while most reviews need far fewer. The local mock of the Messages API has the Tier 1 limits of Claude
 * Sonnet 4.x (50 requests, 30,000 input tokens and 8,000 output tokens a minute) with the minute scaled
 * down to 2 seconds, and enforces them as Anthropic documents: token buckets refilled continuously; the
 * input charged on arrival, the output charged its whole `max_tokens` on arrival and given back down to
 * the real output at the end; 429 with `retry-after` beyond any of the three.
 *
 * The SDK is used as it is, with `client.fetch` as its `fetch`. The client has one window per limit and
 * `meter: anthropic()`: a request waits until all three have room for its estimate (its input from the
 * JSON body's size, its output = `max_tokens`); the answer's `usage` (in a stream: `message_start`,
 * then the last `message_delta`) replaces the estimate, and the output the request did not use goes
 * back to the window at once. The run fails (exit code 1) on any 429, any failed or wrong answer, or a
 * bucket of the server's that went below empty.
 *
 * Windows against buckets. The client keeps sliding windows; buckets (`burst`) are a later feature. A
 * window of L per W is safe against Anthropic's bucket of capacity L refilling L every W: take any time
 * t and the last moment s <= t the bucket was full (or the start); from s to t nothing was lost to the
 * cap, so its level at t is L - taken(s, t] + L·(t - s)/W. Cut (s, t] into k stretches of length W and
 * one shorter one of length r (t - s = kW + r): the window let at most L through in each of them, so
 * taken(s, t] <= (k + 1)·L when r > 0 (k·L when r = 0), and the level is >= L·r/W >= 0. The bucket never
 * runs dry, so it never refuses. Settling keeps this: the server gives the unused output back when the
 * request ends, before the client hears of it and gives it back to its window. (A bucket admits more
 * than the window at some moments, as it refills mid-window: the window is safe, not tight.)
 *
 * Against the real API, drop `baseURL`, take the key from `ANTHROPIC_API_KEY`, and give the client your
 * model's limits from the Claude Console's limits page, e.g. Tier 1 Sonnet:
 *
 *   rateLimit: [
 *     { limit: 50, windowMs: 60_000 },
 *     { limit: 30_000, windowMs: 60_000, counts: 'input-tokens' },
 *     { limit: 8_000, windowMs: 60_000, counts: 'output-tokens' },
 *   ],
 *   meter: anthropic(),
 */
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';
import { RateLimitedClient } from 'rate-limited-client';
import { anthropic } from 'rate-limited-client/meters';
import { startAnthropicMock } from './support/mock-anthropic.js';

const RPM = 50;
const ITPM = 30_000;
const OTPM = 8_000;
const WINDOW_MS = 2_000;
const CONTRACTS = 30;
const MAX_TOKENS = 1_024;

const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(1).padStart(4)} s`;
const api = await startAnthropicMock({ requests: RPM, inputTokens: ITPM, outputTokens: OTPM, windowMs: WINDOW_MS, latencyMs: 40 });

const client = new RateLimitedClient({
  concurrency: 8,
  rateLimit: [
    { limit: RPM, windowMs: WINDOW_MS },
    { limit: ITPM, windowMs: WINDOW_MS, counts: 'input-tokens' },
    { limit: OTPM, windowMs: WINDOW_MS, counts: 'output-tokens' },
  ],
  meter: anthropic(),
});
client.on('error', (error) => console.error('client error:', error));

// `client.fetch` does not retry: the SDK's retries would hide a 429 this example must count. In your
// code, leave them on: each retry goes through `client.fetch`, and so through the windows, again.
const claude = new Anthropic({ apiKey: 'test', baseURL: api.url, fetch: client.fetch, maxRetries: 0 });

const perMinute = (n: number) => n.toLocaleString('en-US');
console.log(
  `Anthropic mock at ${api.url}: ${RPM} requests, ${perMinute(ITPM)} input and ${perMinute(OTPM)} output tokens per ${WINDOW_MS} ms (buckets).`,
);
console.log('Client: a sliding window for each, meter anthropic().\n');

/** A contract of 1,500 to 2,500 tokens; the review asks for an answer of `answer` tokens. */
const contract = (i: number) => {
  const clause = `Clause ${i + 1}. The supplier shall deliver the goods within thirty days of the order. `;
  return `Contract #${i + 1}\n${clause.repeat(60 + ((i * 7) % 40))}`;
};
const answer = (i: number) => 120 + ((i * 71) % 420);
const request = (i: number) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: MAX_TOKENS,
  system: 'You review contracts and list the risky clauses.',
  messages: [{ role: 'user' as const, content: `${contract(i)}\nReview contract #${i + 1}. (answer in ${answer(i)} tokens)` }],
});

const reviews = Array.from({ length: CONTRACTS }, async (_, i) => {
  if (i % 2 === 0) return claude.messages.create(request(i));
  return claude.messages.stream(request(i)).finalMessage();
});
const results = await Promise.allSettled(reviews);
console.log(`${seconds()}  all ${CONTRACTS} reviews answered (${CONTRACTS / 2} streamed)`);
const elapsedMs = performance.now() - t0;
const stats = client.stats();
await client.close();
await api.close();

// --- Checks, from what the server saw and what came back.
const problems: string[] = [];
const check = (ok: boolean, problem: string) => {
  if (!ok) problems.push(problem);
};
let input = 0;
let output = 0;
results.forEach((result, i) => {
  if (result.status === 'rejected') {
    problems.push(`review #${i + 1} failed: ${String(result.reason)}`);
    return;
  }
  const message = result.value;
  const first = message.content[0];
  check(first?.type === 'text' && first.text.startsWith(`Re: Contract #${i + 1}\n`), `review #${i + 1} got another contract's review`);
  check(message.usage.output_tokens === answer(i), `review #${i + 1}: usage says ${message.usage.output_tokens} output tokens`);
  input += message.usage.input_tokens;
  output += message.usage.output_tokens;
});
const server = api.stats();
const refused = server.refused.requests + server.refused['input-tokens'] + server.refused['output-tokens'];
check(refused === 0, `the server refused ${refused} requests: ${api.refusals.slice(0, 2).join(' | ')}`);
check(server.answered === CONTRACTS, `the server answered ${server.answered} requests, expected ${CONTRACTS}`);
check(server.inputTokens === input && server.outputTokens === output, "the server's token counts differ from the answers' usage");
for (const [limit, lowest] of Object.entries(server.lowest))
  check(lowest >= 0, `the server's ${limit} bucket went down to ${lowest.toFixed(0)}`);

const reservedOutput = CONTRACTS * MAX_TOKENS;
console.log('\nSummary');
console.log(`  requests:        ${server.answered} answered (${server.streamed} streamed), ${refused} refused with 429`);
console.log(
  `  input tokens:    ${perMinute(input)}; output tokens: ${perMinute(output)} used of ${perMinute(reservedOutput)} reserved (max_tokens)`,
);
console.log(
  `  settling:        max_tokens alone would need >= ${(((reservedOutput - OTPM) / OTPM) * (WINDOW_MS / 1000)).toFixed(1)} s of output budget; ` +
    `settled to the real output the run took ${(elapsedMs / 1000).toFixed(1)} s`,
);
console.log(
  `  server buckets:  lowest ${Object.entries(server.lowest)
    .map(([limit, lowest]) => `${limit} ${Math.floor(lowest)}`)
    .join(', ')}`,
);
console.log(`  client.stats():  completed ${stats.completed}, failed ${stats.failed}, rejected ${stats.rejected}`);
for (const problem of problems.slice(0, 5)) console.log(`  PROBLEM: ${problem}`);
if (problems.length > 5) console.log(`  ... and ${problems.length - 5} more problems`);
console.log(`\n${problems.length > 0 ? 'FAILED' : 'OK'} in ${seconds().trim()}`);
process.exitCode = problems.length > 0 ? 1 : 0;
