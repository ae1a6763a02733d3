/**
 * Servers: a real rate limiter in front of nothing, nginx `limit_req rate=20r/s` (a leaky bucket: one
 * request every 50 ms), with no burst and with `burst=10 nodelay`, counted in nginx's own access log.
 * `npm run bench -- servers`.
 *
 * The work: REQUESTS GETs at concurrency 4, all submitted at once (issue 20's measurements). A refused
 * request (429) is retried up to RETRIES times; one still refused after them is lost.
 *
 * Contenders, each set up as its docs show for "20 a second" (the bucket ones mirror nginx's shape: a
 * credit of burst + 1, one unit every 50 ms):
 * - ours as a bucket, `{ limit: 20, windowMs: 1_000, burst: 1 }` (`burst: 11` against burst=10);
 * - ours as a window, `{ limit: 20, windowMs: 1_000 }`, as a user writes "20 a second";
 * - ours with no `rateLimit` at all: it learns from the bare 429s (a cooldown, then a paced learned rate);
 * - p-queue, `concurrency: 4, interval: 1_000, intervalCap: 20`;
 * - Bottleneck's reservoir with increase: `reservoir` = the credit, `reservoirIncreaseAmount: 1` every
 *   `reservoirIncreaseInterval: 50`, at most the credit (`reservoirIncreaseMaximum`), `maxConcurrent: 4`;
 * - Bottleneck's `minTime: 50`, `maxConcurrent: 4`;
 * - limiter's TokenBucket `{ bucketSize: credit, tokensPerInterval: 20, interval: 'second' }`, a token
 *   taken (`removeTokens(1)`) inside a p-limit of 4.
 * Ours retries by itself (`retry: { retries: 10 }`: its backoff, and what it learns from a refusal). The
 * peers send with undici's `request` (a keep-alive Agent each) and retry as a user's hand-rolled loop does:
 * a 429 waits PEER_RETRY_DELAY_MS, then the request goes through the limiter again (so the limiter counts
 * every request it sends, the peers' best case: a retry past the limiter would only add refusals).
 *
 * Every contender has its own nginx (same config), and for each nginx config they all run at once, so a
 * slow moment of the machine falls on all of them and a config takes as long as its slowest run
 * (p-queue's, about 33 s at burst 0); the two configs run one after the other. All fourteen at once
 * distorted the timing-sensitive runs on 2 cores (ours with nothing configured at burst 0: 0.54-0.79
 * utilisation, against 0.81-0.87 alone). `SERVERS_SEQUENTIAL=1` runs every contender on its own, one
 * after another (about 95 s), to check that side by side does not distort; the output says which.
 *
 * Columns: nginx's 429s; requests lost; arrivals nginx logged; utilisation, the ideal time over the time
 * the server saw: the ideal spends the credit at once, then one request every 50 ms, so
 * (accepted - credit) x 50 ms, over the first arrival to the last accepted one, both from the log, to the
 * ms; the time from the first submission to the last request settled. Targets (issue 20, as the
 * real-server tests assert them): ours as a bucket 0 refusals, none lost, >= 0.9 utilisation (0.8 at
 * burst 0: a bucket of 1 keeps no credit, so every late timer is lost for good; see
 * test/integration/real-servers.test.ts); ours as a window none lost, <= 8 refusals; ours with nothing
 * configured none lost, <= 8 refusals, >= 0.7 utilisation.
 */
import { performance } from 'node:perf_hooks';
import Bottleneck from 'bottleneck';
import { TokenBucket } from 'limiter';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { Agent, request } from 'undici';
import { RateLimitedClient, type RateWindow } from '../src/index.js';
import { type Nginx, type NginxArrival, nginxAvailable, startNginx } from '../test/support/nginx.js';
import { heading, ratio, type Results, table, type Verdict, verdict } from './lib/report.js';

const REQUESTS = 80;
const CONCURRENCY = 4;
const RATE = 20; // nginx's rate=20r/s
const INTERVAL_MS = 1_000 / RATE;
const RETRIES = 10;
/** The hand-rolled retry loop's fixed wait after a 429. */
const PEER_RETRY_DELAY_MS = 100;
/** nginx's `burst`: 0 (none written) and 10 with `nodelay`. */
const SERVER_BURSTS = [0, 10] as const;
const SEQUENTIAL = process.env.SERVERS_SEQUENTIAL === '1';

type ServerBurst = (typeof SERVER_BURSTS)[number];

/** What a contender's run ended with, besides what nginx logged. */
interface Outcome {
  lost: number;
  elapsedMs: number;
  /** Anything the contender reports about itself (ours with nothing configured: what it learned). */
  note: string;
}

interface Target {
  /** The target as printed. */
  readonly text: string;
  readonly met: (figures: Figures) => boolean;
}

interface Contender {
  readonly name: string;
  /** Runs REQUESTS GETs of `${url}/?i=<n>` against a server of `credit` = burst + 1. */
  readonly run: (url: string, credit: number) => Promise<Outcome>;
  readonly target?: (credit: number) => Target;
}

interface Figures {
  refusals: number;
  lost: number;
  arrivals: number;
  accepted: number;
  utilisation: number;
  spanMs: number;
  elapsedMs: number;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One GET, its body read: the status, or 0 when the request failed without one. */
async function get(agent: Agent, url: string): Promise<number> {
  try {
    const response = await request(url, { dispatcher: agent });
    await response.body.dump();
    return response.statusCode;
  } catch {
    return 0;
  }
}

/**
 * A user's loop around a limiter: each attempt through `gate`, a 429 waits PEER_RETRY_DELAY_MS and tries
 * again, up to RETRIES times.
 */
async function peerRun(url: string, gate: (send: () => Promise<number>) => Promise<number>, stop: () => Promise<void>): Promise<Outcome> {
  const agent = new Agent({ keepAliveTimeout: 4_000 });
  const begin = performance.now();
  let lost = 0;
  try {
    await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        for (let attempt = 0; attempt <= RETRIES; attempt++) {
          const status = await gate(() => get(agent, `${url}/?i=${i}`));
          if (status === 200) return;
          if (status !== 429) break;
          if (attempt < RETRIES) await delay(PEER_RETRY_DELAY_MS);
        }
        lost++;
      }),
    );
    return { lost, elapsedMs: performance.now() - begin, note: '' };
  } finally {
    await stop();
    await agent.close();
  }
}

function ours(name: string, rateLimit: (credit: number) => RateWindow | undefined, target: (credit: number) => Target): Contender {
  return {
    name,
    target,
    run: async (url, credit) => {
      const limit = rateLimit(credit);
      const client = new RateLimitedClient({
        baseUrl: url,
        concurrency: CONCURRENCY,
        ...(limit === undefined ? {} : { rateLimit: limit }),
        retry: { retries: RETRIES },
      });
      const begin = performance.now();
      try {
        const settled = await Promise.allSettled(
          Array.from({ length: REQUESTS }, async (_, i) => {
            const response = await client.get(`/?i=${i}`);
            await response.arrayBuffer();
          }),
        );
        const elapsedMs = performance.now() - begin;
        const learned = client.stats().learnedRate;
        const note =
          limit === undefined && learned !== undefined ? `learned ${((learned.limit * 1_000) / learned.windowMs).toFixed(1)}/s` : '';
        return { lost: settled.filter((result) => result.status === 'rejected').length, elapsedMs, note };
      } finally {
        await client.close({ drain: false });
      }
    },
  };
}

const CONTENDERS: Contender[] = [
  ours(
    'ours, bucket (burst = credit)',
    (credit) => ({ limit: RATE, windowMs: 1_000, burst: credit }),
    (credit) => {
      const least = credit === 1 ? 0.8 : 0.9;
      return {
        text: `0 refusals, 0 lost, util >= ${least}`,
        met: (figures) => figures.refusals === 0 && figures.lost === 0 && figures.utilisation >= least,
      };
    },
  ),
  ours(
    'ours, window 20 / 1 s',
    () => ({ limit: RATE, windowMs: 1_000 }),
    () => ({ text: '<= 8 refusals, 0 lost', met: (figures) => figures.refusals <= 8 && figures.lost === 0 }),
  ),
  ours(
    'ours, nothing configured',
    () => undefined,
    () => ({
      text: '<= 8 refusals, 0 lost, util >= 0.7',
      met: (figures) => figures.refusals <= 8 && figures.lost === 0 && figures.utilisation >= 0.7,
    }),
  ),
  {
    name: 'p-queue interval 1000, intervalCap 20',
    run: (url) => {
      const queue = new PQueue({ concurrency: CONCURRENCY, interval: 1_000, intervalCap: RATE });
      return peerRun(
        url,
        (send) => queue.add(send),
        async () => queue.clear(),
      );
    },
  },
  {
    name: 'bottleneck reservoir + increase',
    run: (url, credit) => {
      // Bottleneck applies increases on its heartbeat, every 250 ms by default (5 units at once): a
      // 10 ms beat lets each come on time, as bench/contenders.ts does. Its typings do not list the option.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
      const limiter = new Bottleneck({
        maxConcurrent: CONCURRENCY,
        reservoir: credit,
        reservoirIncreaseAmount: 1,
        reservoirIncreaseInterval: INTERVAL_MS,
        reservoirIncreaseMaximum: credit,
        heartbeatInterval: 10,
      } as Bottleneck.ConstructorOptions);
      return peerRun(
        url,
        (send) => limiter.schedule(send),
        () => limiter.stop({ dropWaitingJobs: true }),
      );
    },
  },
  {
    name: 'bottleneck minTime 50',
    run: (url) => {
      const limiter = new Bottleneck({ maxConcurrent: CONCURRENCY, minTime: INTERVAL_MS });
      return peerRun(
        url,
        (send) => limiter.schedule(send),
        () => limiter.stop({ dropWaitingJobs: true }),
      );
    },
  },
  {
    name: 'limiter TokenBucket',
    run: (url, credit) => {
      const bucket = new TokenBucket({ bucketSize: credit, tokensPerInterval: RATE, interval: 'second' });
      const slots = pLimit(CONCURRENCY);
      return peerRun(
        url,
        (send) =>
          slots(async () => {
            await bucket.removeTokens(1);
            return send();
          }),
        async () => slots.clearQueue(),
      );
    },
  },
];

/** What nginx's log says about one run, for a server whose bucket holds `credit`. */
function count(log: readonly NginxArrival[], credit: number, outcome: Outcome): Figures {
  const accepted = log.filter((line) => line.status === 200);
  const first = Math.min(...log.map((line) => line.atMs));
  const last = accepted.length === 0 ? first : Math.max(...accepted.map((line) => line.atMs));
  const ideal = Math.max(0, accepted.length - credit) * INTERVAL_MS;
  return {
    refusals: log.filter((line) => line.status === 429).length,
    lost: outcome.lost,
    arrivals: log.length,
    accepted: accepted.length,
    utilisation: last > first ? ideal / (last - first) : 0,
    spanMs: last - first,
    elapsedMs: outcome.elapsedMs,
  };
}

interface Case {
  readonly contender: Contender;
  readonly burst: ServerBurst;
  readonly nginx: Nginx;
}

async function runCase(each: Case): Promise<Figures & { note: string }> {
  const credit = each.burst + 1;
  const outcome = await each.contender.run(each.nginx.url, credit);
  return { ...count(await each.nginx.arrivals(), credit, outcome), note: outcome.note };
}

export async function serversBench(results: Results): Promise<void> {
  heading(
    `Servers: ${REQUESTS} GETs at concurrency ${CONCURRENCY} against nginx limit_req rate=${RATE}r/s (burst 0, and burst=10 nodelay)`,
    SEQUENTIAL
      ? 'Each contender against an nginx of its own, ONE AFTER ANOTHER (SERVERS_SEQUENTIAL=1).'
      : 'Each contender against an nginx of its own (same config), ALL AT ONCE for each config, the two configs one after the other (SERVERS_SEQUENTIAL=1: each alone).',
    `A 429 is retried up to ${RETRIES} times: ours by itself; the peers after ${PEER_RETRY_DELAY_MS} ms, back through their limiter (undici request).`,
    `'credit' = nginx burst + 1; 'util' = (accepted - credit) x ${INTERVAL_MS} ms / (first arrival to last accepted arrival), from nginx's log.`,
    "'time' = first submission to the last request settled. Targets: issue 20 (0.8 for a bucket of 1, as test/integration/real-servers.test.ts).",
  );
  const found = nginxAvailable();
  if (!found.ok) {
    console.log(`skipped: ${found.reason}`);
    results.record('servers', { verdict: 'skipped' satisfies Verdict, reason: found.reason });
    return;
  }
  const cases: Case[] = [];
  try {
    for (const burst of SERVER_BURSTS) {
      for (const contender of CONTENDERS) {
        cases.push({ contender, burst, nginx: await startNginx(burst === 0 ? { rate: RATE } : { rate: RATE, burst, nodelay: true }) });
      }
    }
    const begin = performance.now();
    const figures: Array<Figures & { note: string }> = [];
    if (SEQUENTIAL) for (const each of cases) figures.push(await runCase(each));
    else for (const burst of SERVER_BURSTS) figures.push(...(await Promise.all(cases.filter((each) => each.burst === burst).map(runCase))));
    const wallMs = performance.now() - begin;

    const rows: Array<Array<string | number>> = [];
    const recorded = cases.map((each, i) => {
      const figure = figures[i] as Figures & { note: string };
      const credit = each.burst + 1;
      const target = each.contender.target?.(credit);
      const bucketIndex = cases.findIndex((other) => other.burst === each.burst && other.contender === CONTENDERS[0]);
      const bucket = figures[bucketIndex] as Figures;
      const outcome: Verdict = target === undefined ? 'info' : verdict(target.met(figure));
      rows.push([
        each.contender.name,
        each.burst === 0 ? 'rate=20r/s' : 'burst=10 nodelay',
        figure.refusals,
        figure.lost,
        figure.arrivals,
        figure.utilisation.toFixed(3),
        (figure.elapsedMs / 1_000).toFixed(1),
        i === bucketIndex ? '-' : ratio(figure.elapsedMs, bucket.elapsedMs),
        figure.note === '' ? '-' : figure.note,
        target?.text ?? '-',
        outcome,
      ]);
      return { name: each.contender.name, serverBurst: each.burst, credit, ...figure, target: target?.text, verdict: outcome };
    });
    console.log(
      table(
        ['contender', 'nginx', '429s', 'lost', 'arrivals', 'util', 'time s', 'time vs ours (bucket)', 'note', 'target', 'verdict'],
        rows,
      ),
    );
    console.log(
      `\n${SEQUENTIAL ? 'one after another' : 'side by side within each config'}: ${(wallMs / 1_000).toFixed(1)} s for all runs; ${found.version}`,
    );
    results.record('servers', {
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      rate: RATE,
      retries: RETRIES,
      peerRetryDelayMs: PEER_RETRY_DELAY_MS,
      mode: SEQUENTIAL ? 'sequential' : 'side by side',
      nginx: found.version,
      wallMs,
      cases: recorded,
    });
  } finally {
    await Promise.allSettled(cases.map((each) => each.nginx.stop()));
  }
}
