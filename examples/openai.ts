/**
 * The OpenAI SDK under the client's limits, requests and tokens. Run it from the repository root:
 * `npx tsx examples/openai.ts`.
 *
 * A batch job summarises 40 support tickets with chat completions, and 10 draft replies are streamed
 * (`stream_options: { include_usage: true }`). The local mock of the OpenAI API allows 20 requests and
 * 4,000 tokens a second (an RPM and a TPM with the minute scaled down to a second) and charges each
 * request up front for its prompt and its whole `max_completion_tokens`, as OpenAI does, then settles
 * the charge to the tokens really used; over either limit it answers 429.
 *
 * The SDK is used as it is, with `client.fetch` as its `fetch`. The client has a window for each limit,
 * the second one counting tokens, and `meter: openai()`: before a request is sent the meter estimates
 * its tokens from the JSON body (prompt + cap), and the request waits until both windows have room;
 * when the answer's `usage` arrives (the last chunk of a stream) the estimate is replaced by the real
 * count, and what the cap held but the answer did not use goes back to the window at once. The run
 * fails (exit code 1) on any 429, a failed or wrong answer, or a streamed answer without its usage.
 *
 * Against the real API, drop `baseURL`, take the key from `OPENAI_API_KEY`, and give the client your
 * model's limits from your organization's limits page (platform.openai.com/settings/organization/limits),
 * e.g. for 500 RPM and 200,000 TPM:
 *
 *   rateLimit: [{ limit: 500, windowMs: 60_000 }, { limit: 200_000, windowMs: 60_000, counts: 'tokens' }],
 *   meter: openai(),
 *
 * OpenAI refills its limits continuously; a sliding window of the same limit over the same minute never
 * lets more through in any stretch of time than such a bucket would (see examples/anthropic.ts).
 */
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { RateLimitedClient } from 'rate-limited-client';
import { openai } from 'rate-limited-client/meters';
import { answerLength, startOpenAIMock } from './support/mock-openai.js';

const RPM = 20;
const TPM = 4_000;
const WINDOW_MS = 1_000;
const TICKETS = 40;
const DRAFTS = 10;

const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(1).padStart(4)} s`;
const api = await startOpenAIMock({ requests: RPM, tokens: TPM, windowMs: WINDOW_MS, latencyMs: 30, apiKey: 'test' });

const client = new RateLimitedClient({
  concurrency: 8,
  rateLimit: [
    { limit: RPM, windowMs: WINDOW_MS },
    { limit: TPM, windowMs: WINDOW_MS, counts: 'tokens' },
  ],
  meter: openai(),
});
client.on('error', (error) => console.error('client error:', error));

const sdk = new OpenAI({
  apiKey: 'test',
  baseURL: `${api.url}/v1`,
  fetch: client.fetch,
  // `client.fetch` does not retry: the SDK's retries are the only ones, and they would hide a 429 this
  // example must count. In your code, leave them on: each retry calls `client.fetch` again, so it waits
  // for the windows like any request.
  maxRetries: 0,
});

console.log(`OpenAI mock at ${api.url}/v1: ${RPM} requests and ${TPM.toLocaleString('en-US')} tokens per ${WINDOW_MS} ms; 429 beyond.`);
console.log(`Client: windows of ${RPM} requests and ${TPM.toLocaleString('en-US')} tokens per ${WINDOW_MS} ms, meter openai().\n`);

// Answers of different lengths (the mock answers with as many tokens as the prompt asks for, never more
// than the cap): the caps are what the job allows, the answers what the model needed.
const summaryLength = (i: number) => 60 + ((i * 37) % 240);
const draftLength = (i: number) => 150 + ((i * 53) % 450);
const SUMMARY_CAP = 400;
const DRAFT_CAP = 800;

const summaries = Array.from({ length: TICKETS }, (_, i) =>
  sdk.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'Summarise the support ticket in a few lines.' },
      { role: 'user', content: `Ticket #${i + 1}: the export button does nothing on the reports page. ${answerLength(summaryLength(i))}` },
    ],
    max_completion_tokens: SUMMARY_CAP,
  }),
);

async function draft(i: number) {
  const stream = await sdk.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: `Draft a reply to customer #${i + 1} about a double charge. ${answerLength(draftLength(i))}` }],
    max_completion_tokens: DRAFT_CAP,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    usage = chunk.usage ?? usage;
  }
  return { text, usage };
}
const drafts = Array.from({ length: DRAFTS }, (_, i) => draft(i));

const [job, streamed] = await Promise.all([Promise.allSettled(summaries), Promise.allSettled(drafts)]);
console.log(`${seconds()}  all ${TICKETS} summaries and ${DRAFTS} streamed drafts answered`);
const elapsedMs = performance.now() - t0;
const stats = client.stats();
await client.close();
await api.close();

// --- Checks, from what the server saw and what came back.
const problems: string[] = [];
const check = (ok: boolean, problem: string) => {
  if (!ok) problems.push(problem);
};
let used = 0;
let outputs = 0;
job.forEach((result, i) => {
  if (result.status === 'rejected') {
    problems.push(`ticket #${i + 1} failed: ${String(result.reason)}`);
    return;
  }
  used += result.value.usage?.total_tokens ?? 0;
  outputs += result.value.usage?.completion_tokens ?? 0;
  check(result.value.choices[0]?.message.content?.includes(`Ticket #${i + 1}:`) === true, `ticket #${i + 1} got another ticket's summary`);
});
streamed.forEach((result, i) => {
  if (result.status === 'rejected') {
    problems.push(`draft #${i + 1} failed: ${String(result.reason)}`);
    return;
  }
  check(result.value.usage !== undefined, `draft #${i + 1} streamed no usage chunk`);
  check(result.value.text.includes(`customer #${i + 1} `), `draft #${i + 1} got another customer's text`);
  used += result.value.usage?.total_tokens ?? 0;
  outputs += result.value.usage?.completion_tokens ?? 0;
});
const server = api.stats();
const refused = server.refused.requests + server.refused.tokens;
check(refused === 0, `the server refused ${refused} requests: ${api.refusals.slice(0, 2).join(' | ')}`);
check(server.answered === TICKETS + DRAFTS, `the server answered ${server.answered} requests, expected ${TICKETS + DRAFTS}`);
check(server.tokensServed === used, `the server served ${server.tokensServed} tokens, the answers' usage says ${used}`);
const tokenWindow = stats.windows.find((window) => window.counts === 'tokens');
check(tokenWindow !== undefined, "client.stats().windows has no window counting 'tokens'");

// What the requests held up front: every prompt and every whole cap. Without settling, the token window
// would have counted this much, and the run could not have been shorter than it takes to earn it.
const upFront = used - outputs + TICKETS * SUMMARY_CAP + DRAFTS * DRAFT_CAP;
console.log('\nSummary');
console.log(`  requests:       ${server.answered} answered (${server.streamed} streamed), ${refused} refused with 429`);
console.log(`  tokens:         ${used.toLocaleString('en-US')} used, by the answers' usage and by the server's count alike`);
console.log(
  `  settling:       ${upFront.toLocaleString('en-US')} tokens held up front (prompts + caps) would take ` +
    `>= ${((upFront - TPM) / TPM).toFixed(1)} s at ${TPM.toLocaleString('en-US')} a second; settled to the real usage, ` +
    `the run took ${(elapsedMs / 1000).toFixed(1)} s`,
);
console.log(`  client.stats(): completed ${stats.completed}, failed ${stats.failed}, rejected ${stats.rejected}`);
for (const problem of problems.slice(0, 5)) console.log(`  PROBLEM: ${problem}`);
if (problems.length > 5) console.log(`  ... and ${problems.length - 5} more problems`);
console.log(`\n${problems.length > 0 ? 'FAILED' : 'OK'} in ${seconds().trim()}`);
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = problems.length > 0 ? 1 : 0;
