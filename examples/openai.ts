/**
 * The OpenAI SDK under the client's limits. Run it from the repository root: `npx tsx examples/openai.ts`.
 *
 * A batch job summarises 50 support tickets with chat completions at a low priority; once it has used
 * up the first window, 10 users search, and their queries are embedded at a high priority. The local
 * mock of the OpenAI API allows 20 requests and 4,000 tokens a second (an RPM and a TPM scaled down to
 * a second) and answers 429 beyond. The SDK is used as it is, with `client.fetch` as its `fetch`: every
 * request waits for the client's window, and the searches overtake the job's queued requests. The run
 * fails (exit code 1) if the mock answered a 429 or saw more than 20 requests in any second, if a call
 * failed or came back with the wrong answer, or if a queued job request went before the searches.
 *
 * Against the real API, drop `baseURL`, take the key from `OPENAI_API_KEY`, and give the client your
 * model's limits from your organization's limits page (platform.openai.com/settings/organization/limits),
 * e.g. for 500 RPM: `rateLimit: { limit: 500, windowMs: 60_000 }`. The client counts requests, not
 * tokens: a request's `weight` counts in every window and in `concurrency` alike, so it can not stand for
 * tokens beside a request window. If your TPM binds before your RPM, watch `x-ratelimit-remaining-tokens`.
 */
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { RateLimitedClient } from 'rate-limited-client';
import { DIMENSIONS, startOpenAIMock } from './support/openai-mock.js';
import { maxInAnyWindow } from './support/window-count.js';

const LIMIT = 20;
const TOKENS = 4_000;
const WINDOW_MS = 1_000;
const TICKETS = 50;
const QUERIES = [
  'export button broken',
  'refund for a double charge',
  'reset two-factor',
  'invoice in euros',
  'delete my account',
  'dark mode',
  'slow dashboard',
  'API key rotation',
  'webhook retries',
  'change billing email',
];
const API_KEY = 'sk-test-not-a-real-key';

const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(1).padStart(4)} s`;
const api = await startOpenAIMock({ requests: LIMIT, tokens: TOKENS, windowMs: WINDOW_MS, latencyMs: 30, apiKey: API_KEY });

const client = new RateLimitedClient({ concurrency: 8, rateLimit: { limit: LIMIT, windowMs: WINDOW_MS } });
client.on('error', (error) => console.error('client error:', error));

const openai = new OpenAI({
  apiKey: API_KEY,
  baseURL: `${api.url}/v1`,
  fetch: client.fetch,
  // `client.fetch` does not retry: the SDK's retries are the only ones, and they would hide a 429 this
  // example must count. In your code, leave them on: each retry calls `client.fetch` again, so it waits
  // for the windows like any request, and a 429's `retry-after-ms` has already paused the whole client.
  maxRetries: 0,
});
// The job's own view of the same SDK and client: its requests queue behind everything at priority 0.
const jobOpenai = openai.withOptions({ fetch: (input, init) => client.fetch(input, { ...init, rateLimit: { priority: 10 } }) });

console.log(`OpenAI mock at ${api.url}/v1: ${LIMIT} requests and ${TOKENS} tokens per ${WINDOW_MS} ms; 429 beyond.`);
console.log(`Client: concurrency 8, rateLimit ${LIMIT} per ${WINDOW_MS} ms; the job at priority 10, searches at 0.\n`);

const summaries = Array.from({ length: TICKETS }, (_, i) =>
  jobOpenai.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'Summarise the support ticket in one line.' },
      { role: 'user', content: `Ticket #${i + 1}: the export button does nothing on the reports page.` },
    ],
    max_completion_tokens: 60,
  }),
);
const jobDone = Promise.allSettled(summaries); // a handler on every promise from the start
// Equal priorities start first in, first out: once the first LIMIT are answered the window is used up,
// and the rest of the job waits in the client's queue.
await Promise.allSettled(summaries.slice(0, LIMIT));
console.log(`${seconds()}  job: ${TICKETS} chat completions sent at priority 10, the first ${LIMIT} answered`);

const searchesAt = performance.now();
const searches = await Promise.allSettled(QUERIES.map((input) => openai.embeddings.create({ model: 'text-embedding-3-small', input })));
console.log(`${seconds()}  searches: ${QUERIES.length} embeddings sent at priority 0, answered`);
const job = await jobDone;
console.log(`${seconds()}  job: all ${TICKETS} answered`);

const stats = client.stats();
await client.close();
await api.close();

// --- Checks, from what the server saw and what came back.
const problems: string[] = [];
const check = (ok: boolean, problem: string) => {
  if (!ok) problems.push(problem);
};
job.forEach((result, i) => {
  if (result.status === 'rejected') problems.push(`ticket #${i + 1} failed: ${String(result.reason)}`);
  else
    check(
      result.value.choices[0]?.message.content?.includes(`Ticket #${i + 1}:`) === true,
      `ticket #${i + 1} got another ticket's summary`,
    );
});
searches.forEach((result, i) => {
  if (result.status === 'rejected') problems.push(`search "${QUERIES[i]}" failed: ${String(result.reason)}`);
  // The SDK asks for base64 and decodes it: the vector must come back whole.
  else check(result.value.data[0]?.embedding.length === DIMENSIONS, `search "${QUERIES[i]}" got a broken embedding`);
});

const arrivals = api.arrivals;
const refused = arrivals.filter((arrival) => arrival.status !== 200);
const busiest = maxInAnyWindow(
  arrivals.map((arrival) => arrival.at),
  WINDOW_MS,
);
check(refused.length === 0, `${refused.length} requests not answered 200: ${refused.map((a) => `${a.status} ${a.path}`).join(', ')}`);
check(busiest <= LIMIT, `${busiest} requests in one ${WINDOW_MS} ms window, over the limit of ${LIMIT}`);

// Priority, as the server saw it: job requests that arrived after the searches were sent were still
// queued then. None may arrive before the first search. Among the last ones, a few may cross paths
// with the searches on the wire: several start in the same millisecond when a burst of slots frees.
const searchTimes = arrivals.filter((a) => a.path === '/v1/embeddings').map((a) => a.at);
const queuedJob = arrivals.filter((a) => a.path === '/v1/chat/completions' && a.at > searchesAt).map((a) => a.at);
const firstSearch = Math.min(...searchTimes);
const lastSearch = Math.max(...searchTimes);
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
check(
  queuedJob.every((at) => at > firstSearch),
  'a queued job request reached the server before the first search',
);
const crossed = queuedJob.filter((at) => at < lastSearch).length;

const span = ((arrivals.at(-1)?.at ?? 0) - (arrivals[0]?.at ?? 0)) / 1000;
console.log('\nSummary');
console.log(
  `  requests sent:          ${arrivals.length} (${TICKETS} chat, ${QUERIES.length} embeddings), the first to the last in ${span.toFixed(1)} s`,
);
console.log(`  429s:                   ${arrivals.filter((a) => a.status === 429).length}`);
console.log(`  busiest ${WINDOW_MS} ms window: ${busiest} requests (limit ${LIMIT})`);
console.log(
  `  searches:               waited ${mean(searchTimes.map((at) => at - searchesAt)).toFixed(0)} ms on average for the window to slide`,
);
console.log(
  `  priority:               ${queuedJob.length} job requests were still queued; ${queuedJob.length - crossed} of them reached the server after every search, ${crossed} between the searches`,
);
console.log(`  tokens:                 at least ${api.leastTokensLeft()} of ${TOKENS} left at any time (the client counts requests only)`);
console.log(`  client.stats():         completed ${stats.completed}, failed ${stats.failed}, rejected ${stats.rejected}`);
for (const problem of problems.slice(0, 5)) console.log(`  PROBLEM: ${problem}`);
if (problems.length > 5) console.log(`  ... and ${problems.length - 5} more problems`);
console.log(`\n${problems.length > 0 ? 'FAILED' : 'OK'} in ${seconds().trim()}`);
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = problems.length > 0 ? 1 : 0;
