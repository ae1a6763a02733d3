/**
 * Tokens: how much of an LLM server's token budget each way of limiting gets used, and how many 429s it
 * costs. `npm run bench -- tokens`.
 *
 * The server is the examples' OpenAI mock (examples/support/mock-openai.ts), in a process of its own
 * (bench/support/llm-server.ts), with OpenAI's rules scaled from a minute to a second: 30 requests and
 * 6,000 tokens a second, each a bucket refilling continuously; a request is charged its prompt plus its
 * `max_completion_tokens` up front, settled to its real usage when it ends.
 *
 * The work: CALLS chat completions from one seeded sequence, the same for every contender: prompts of
 * 20 to 300 tokens, caps of 64 to 640 tokens, answers a random 10 % to 70 % of the cap, 30 % of the calls
 * streamed with `stream_options.include_usage`. A refused call waits the `retry-after-ms` it was given
 * and goes through its limiter again; one still refused after MAX_ATTEMPTS is lost.
 *
 * Contenders, side by side in one run (each against its own server, started together, so a slow moment
 * of the machine falls on all of them; the runs would take minutes one after another):
 * - ours, with `meter: openai()`: estimates each call (prompt + cap) and settles it from its `usage`;
 * - ours, estimates only: the same meter without its usage reader, so every call keeps its estimate;
 * - ours, requests only: the RPM window alone;
 * - p-queue, requests only: `intervalCap` = RPM per second, the usual p-queue recipe;
 * - cookbook: openai-cookbook's `api_request_parallel_processor.py`, ported: buckets of requests and of
 *   estimated tokens (prompt + max_tokens) refilled continuously, polled every millisecond, never
 *   settled, and a 15 s pause (scaled: 250 ms) after a rate-limit error.
 *
 * Columns: the server's 429s; calls lost; the token budget used, tokens served / (TPM × elapsed), where
 * elapsed runs from the first request to the last answer (the bucket starts full, so a perfect client
 * could reach 1 + one window / elapsed, about 1.04 here); the time taken. Targets: ours with settling
 * 0 429s and >= 0.9 of the budget.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { RateLimitedClient } from '../src/index.js';
import { openai, type Meter } from '../src/meters/index.js';
import { answerLength } from '../examples/support/mock-openai.js';
import type { ChildMessage, ParentMessage } from './support/llm-server.js';
import { count, heading, ratio, type Results, table, verdict } from './lib/report.js';

const CALLS = 500;
const RPM = 30; // per WINDOW_MS: OpenAI's minute, scaled down to a second
const TPM = 6_000;
const WINDOW_MS = 1_000;
const CONCURRENCY = 16;
const MAX_ATTEMPTS = 30;
const SEED = 20_240_601;
const TARGET_SHARE = 0.9;
/** The cookbook's pause after a rate-limit error (15 s a minute), scaled like the limits. */
const COOKBOOK_PAUSE_MS = (15_000 * WINDOW_MS) / 60_000;

interface Call {
  body: string;
  /** The cookbook's estimate: prompt tokens (its message framing included) + max_tokens. */
  estimate: number;
  streamed: boolean;
}

/** mulberry32: a small seeded generator, so every contender (and every run) gets the same calls. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function calls(): Call[] {
  const next = random(SEED);
  const between = (low: number, high: number) => low + Math.floor(next() * (high - low + 1));
  const words = ['invoice', 'refund', 'shipping', 'account', 'password', 'export', 'report', 'billing', 'order', 'status'];
  return Array.from({ length: CALLS }, (_, i) => {
    const promptTokens = between(20, 300);
    const cap = between(64, 640);
    const answer = Math.max(1, Math.round(cap * (0.1 + 0.6 * next())));
    const streamed = next() < 0.3;
    const suffix = ` ${answerLength(answer)}`;
    let text = `Ticket ${i + 1}:`;
    while (text.length < promptTokens * 4 - suffix.length) text += ` ${words[between(0, words.length - 1)] ?? ''}`;
    const content = text.slice(0, Math.max(0, promptTokens * 4 - suffix.length)) + suffix;
    const messages = [{ role: 'user', content }];
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      messages,
      max_completion_tokens: cap,
      ...(streamed ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
    // The cookbook counts 4 a message and 2 for the reply's priming, with tiktoken; 4 characters a token here.
    return { body, estimate: 4 + Math.ceil(content.length / 4) + 2 + cap, streamed };
  });
}

/** Sends one call and reads its whole body; the status, and the wait a 429 asked for. */
type Send = (call: Call) => Promise<{ status: number; retryAfterMs: number }>;

interface Contender {
  readonly name: string;
  /** Sends `call` through the limiter, once. */
  readonly send: Send;
  /** Called after a 429, before the call goes through the limiter again (the cookbook pauses). */
  readonly refused?: () => void;
  readonly stop: () => Promise<void>;
}

interface Outcome {
  elapsedMs: number;
  refusedSeen: number;
  lost: number;
}

async function answer(response: Response): Promise<{ status: number; retryAfterMs: number }> {
  await response.arrayBuffer(); // the whole body: a streamed answer's usage comes last
  return { status: response.status, retryAfterMs: Number(response.headers.get('retry-after-ms') ?? 0) };
}

const post = (url: string, call: Call): [string, RequestInit] => [
  `${url}/v1/chat/completions`,
  { method: 'POST', headers: { authorization: 'Bearer test', 'content-type': 'application/json' }, body: call.body },
];

/** Runs every call through `contender`, retrying 429s; resolves when the last call has its answer. */
async function run(contender: Contender, work: readonly Call[]): Promise<Outcome> {
  const begin = performance.now();
  let last = begin;
  let refusedSeen = 0;
  let lost = 0;
  await Promise.all(
    work.map(async (call) => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const { status, retryAfterMs } = await contender.send(call);
        if (status === 200) {
          last = Math.max(last, performance.now());
          return;
        }
        if (status !== 429) break;
        refusedSeen++;
        contender.refused?.();
        await new Promise((resolve) => setTimeout(resolve, retryAfterMs));
      }
      lost++;
    }),
  );
  return { elapsedMs: last - begin, refusedSeen, lost };
}

function ours(name: string, url: string, meter: Meter | undefined, tokens: boolean): Contender {
  const client = new RateLimitedClient({
    concurrency: CONCURRENCY,
    rateLimit: [{ limit: RPM, windowMs: WINDOW_MS }, ...(tokens ? [{ limit: TPM, windowMs: WINDOW_MS, counts: 'tokens' }] : [])],
    ...(meter === undefined ? {} : { meter }),
  });
  return {
    name,
    send: async (call) => answer(await client.fetch(...post(url, call))),
    stop: () => client.close(),
  };
}

function pQueue(url: string): Contender {
  const queue = new PQueue({ concurrency: CONCURRENCY, intervalCap: RPM, interval: WINDOW_MS });
  return {
    name: 'p-queue, requests only',
    send: (call) => queue.add(async () => answer(await fetch(...post(url, call)))),
    stop: async () => queue.clear(),
  };
}

/**
 * openai-cookbook's api_request_parallel_processor.py, ported: capacities refilled continuously at the
 * limits' rates, a call starts when both have room for it (its estimate never corrected), checked every
 * millisecond; after a rate-limit error nothing starts for COOKBOOK_PAUSE_MS.
 */
function cookbook(url: string): Contender {
  let requests = RPM;
  let tokens = TPM;
  let updated = performance.now();
  let pausedUntil = 0;
  const waiting: Array<{ call: Call; start: () => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    timer = undefined;
    const now = performance.now();
    requests = Math.min(RPM, requests + ((now - updated) * RPM) / WINDOW_MS);
    tokens = Math.min(TPM, tokens + ((now - updated) * TPM) / WINDOW_MS);
    updated = now;
    while (now >= pausedUntil && waiting.length > 0) {
      const next = waiting[0] as (typeof waiting)[number];
      if (requests < 1 || tokens < next.call.estimate) break;
      requests -= 1;
      tokens -= next.call.estimate;
      waiting.shift();
      next.start();
    }
    if (waiting.length > 0) timer = setTimeout(loop, 1);
  };
  return {
    name: 'cookbook (estimates, never settled)',
    send: (call) =>
      new Promise((resolve, reject) => {
        waiting.push({
          call,
          start: () =>
            void fetch(...post(url, call))
              .then(answer)
              .then(resolve, reject),
        });
        timer ??= setTimeout(loop, 1);
      }),
    refused: () => {
      pausedUntil = performance.now() + COOKBOOK_PAUSE_MS;
    },
    stop: async () => clearTimeout(timer),
  };
}

/** The servers' process: resolves with one URL per contender, and a way to ask for their counts. */
async function startServers(countOf: number) {
  const child = fork(new URL('./support/llm-server.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T extends ChildMessage['type']>(message: ParentMessage, answerType: T) =>
    new Promise<Extract<ChildMessage, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('The LLM benchmark server did not answer within 20 s')), 20_000);
      child.once('message', (reply: ChildMessage) => {
        clearTimeout(timer);
        if (reply.type === answerType) resolve(reply as Extract<ChildMessage, { type: T }>);
        else reject(new Error(`The LLM benchmark server answered ${JSON.stringify(reply)}`));
      });
      child.send(message);
    });
  const { urls } = await ask({ type: 'start', count: countOf, options: { requests: RPM, tokens: TPM, windowMs: WINDOW_MS } }, 'started');
  return { urls, stats: async () => (await ask({ type: 'stats' }, 'stats')).stats, stop: () => void child.kill() };
}

export async function tokensBench(results: Results): Promise<void> {
  heading(
    `Tokens: ${CALLS} chat completions against an OpenAI mock allowing ${RPM} requests and ${count(TPM)} tokens a second`,
    'Prompts of 20-300 tokens, caps of 64-640, answers 10-70 % of the cap, 30 % streamed; one seeded sequence for all.',
    'Each contender has its own server (same limits, in one process of its own); all run at once. A 429 waits its retry-after-ms and retries.',
    "'budget used': tokens served / (TPM x elapsed); the server's bucket starts full, so the most is about 1.04.",
    `target: ours with openai() settling: 0 429s and >= ${TARGET_SHARE} of the token budget`,
  );
  const work = calls();
  const servers = await startServers(5); // one per contender
  const contenders: Contender[] = [];
  try {
    const [settling, estimating, requestsOnly, pq, cb] = servers.urls as [string, string, string, string, string];
    const full = openai();
    // The same meter without its usage reader: every call keeps its estimate.
    const estimatesOnly: Meter = {
      estimate: (request) => full.estimate(request),
      budgets: (response) => full.budgets?.(response),
      refusal: (response, body) => full.refusal?.(response, body),
    };
    contenders.push(
      ours('ours, openai() settling', settling, full, true),
      ours('ours, estimates only', estimating, estimatesOnly, true),
      ours('ours, requests only', requestsOnly, undefined, false),
      pQueue(pq),
      cookbook(cb),
    );
    const outcomes = await Promise.all(contenders.map((contender) => run(contender, work)));
    const served = await servers.stats();

    const figures = contenders.map((contender, i) => {
      const outcome = outcomes[i] as Outcome;
      const server = served[i] as (typeof served)[number];
      const refused = server.refused.requests + server.refused.tokens;
      const budget = (TPM * outcome.elapsedMs) / WINDOW_MS;
      return {
        name: contender.name,
        refused,
        refusedForTokens: server.refused.tokens,
        lost: outcome.lost,
        tokensServed: server.tokensServed,
        budgetShare: server.tokensServed / budget,
        elapsedMs: outcome.elapsedMs,
      };
    });
    const oursSettling = figures[0] as (typeof figures)[number];
    const rows = figures.map((figure, i) => {
      const isTarget = i === 0;
      return [
        figure.name,
        figure.refused,
        figure.lost,
        count(figure.tokensServed),
        figure.budgetShare.toFixed(2),
        (figure.elapsedMs / 1000).toFixed(1),
        i === 0 ? '-' : ratio(figure.elapsedMs, oursSettling.elapsedMs),
        isTarget ? verdict(figure.refused === 0 && figure.lost === 0 && figure.budgetShare >= TARGET_SHARE) : 'info',
      ];
    });
    console.log(table(['contender', '429s', 'lost', 'tokens served', 'budget used', 'time s', 'time vs ours (settling)', 'verdict'], rows));
    results.record('tokens', {
      calls: CALLS,
      rpm: RPM,
      tpm: TPM,
      windowMs: WINDOW_MS,
      seed: SEED,
      targetShare: TARGET_SHARE,
      contenders: figures,
      verdict: verdict(oursSettling.refused === 0 && oursSettling.lost === 0 && oursSettling.budgetShare >= TARGET_SHARE),
    });
  } finally {
    await Promise.allSettled(contenders.map((contender) => contender.stop()));
    servers.stop();
  }
}
