/**
 * Section 5: HTTP on loopback. What our HTTP layers cost on top of the undici call they make, beside the
 * same call run by the peers people would reach for instead (p-queue, p-limit and Bottleneck in front
 * of `undici.request`), against a server in a process of its own (`bench/support/http-server.mjs`), 32
 * requests in flight, no rate limit.
 *
 * Connections: every case its own keep-alive Agent with the settings our client uses (lib/loopback.ts).
 * The peers each get their best set-up for this job: a concurrency of 32 and nothing else (no interval,
 * no minTime), the body read inside the task so a slot covers the whole request, as ours does.
 *
 * Noise (a 2-core VM, the server on the other core, often other work too): each case is warmed up,
 * then the cases run in interleaved rounds (case 1..n, case 1..n, …) of a fixed duration, each of ours
 * close after the case it is compared with. req/s and latencies are the median round; a ratio is the
 * median of the per-round ratios (round r of one case / round r of the other), so a slow moment of the
 * machine moves both sides of a ratio instead of one case. The client process's CPU time per request
 * is recorded too: contention stretches it far less than it stretches wall-clock throughput.
 */
import Bottleneck from 'bottleneck';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { request } from 'undici';
import { rateLimit } from '../src/index.js';
import { Connections, fetchInit, startServer } from './lib/loopback.js';
import { count, heading, median, quantile, ratio, type Results, table, verdict } from './lib/report.js';

const IN_FLIGHT = 32;
const ROUNDS = 7;
const ROUND_MS = 900;
const WARM_UP_MS = 700;

const RAW_UNDICI = 'raw undici.request';
const RAW_FETCH = 'raw fetch';
const OURS_UNDICI = "client, transport 'undici'";
const P_QUEUE = 'p-queue + undici.request';

/** What issue 16 asks: each of ours against its raw call, and against the peer a user would pick. */
const CHECKS: ReadonlyArray<{ ours: string; against: string; target: number }> = [
  { ours: OURS_UNDICI, against: RAW_UNDICI, target: 0.9 },
  { ours: OURS_UNDICI, against: P_QUEUE, target: 1.0 },
  { ours: "client, transport 'fetch'", against: RAW_FETCH, target: 0.9 },
  { ours: 'client.fetch', against: RAW_FETCH, target: 0.95 },
  { ours: 'interceptor on an Agent', against: RAW_UNDICI, target: 0.9 },
];

interface Round {
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU time of this process (user + system) per request, µs. */
  cpuMicros: number;
}

interface Case {
  readonly name: string;
  /** The raw call it makes, by case name, for the 'vs raw' column; none for a raw case. */
  readonly against: string | undefined;
  /** One request, its body read. */
  readonly one: () => Promise<unknown>;
  readonly rounds: Round[];
}

/** `IN_FLIGHT` loops, each sending the next request as soon as its last one is answered, for `ms`. */
async function round(one: () => Promise<unknown>, ms: number): Promise<Round> {
  const latencies: number[] = [];
  const begin = performance.now();
  const end = begin + ms;
  let last = begin;
  const cpu = process.cpuUsage();
  const loop = async () => {
    for (let sent = performance.now(); sent < end; sent = performance.now()) {
      await one();
      last = performance.now();
      latencies.push(last - sent);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  const used = process.cpuUsage(cpu);
  return {
    requests: latencies.length,
    perSecond: latencies.length / ((last - begin) / 1000),
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuMicros: (used.user + used.system) / latencies.length,
  };
}

/** The median over rounds of `of(round r of a) / of(round r of b)`. */
function paired(a: Case, b: Case, of: (one: Round) => number): number {
  return median(a.rounds.map((one, r) => of(one) / of(b.rounds[r] as Round)));
}

export async function httpBench(results: Results): Promise<void> {
  heading(
    `HTTP on loopback: GET of a small JSON body, ${IN_FLIGHT} in flight, no rate limit`,
    'Server in its own process; every case its own keep-alive undici Agent (the one our client makes).',
    `The peers run undici.request at concurrency ${IN_FLIGHT}, the body read inside the task.`,
    `${ROUNDS} interleaved rounds of ${ROUND_MS / 1000} s per case after a warm-up: req/s, latencies and CPU of the median round;`,
    "a ratio is the median of the per-round ratios ('vs raw': to the raw call the case makes, in the same round).",
  );
  const server = startServer();
  const connections = new Connections();
  try {
    const port = await server.port;
    const origin = `http://127.0.0.1:${port}`;
    const url = `${origin}/item`;
    const viaUndici = connections.client({ baseUrl: origin, transport: 'undici', concurrency: IN_FLIGHT });
    const viaFetch = connections.client({ baseUrl: origin, transport: 'fetch', concurrency: IN_FLIGHT });
    const viaClientFetch = connections.client({ concurrency: IN_FLIGHT });
    const intercepted = connections.agent().compose(rateLimit(connections.client({ concurrency: IN_FLIGHT })));
    const rawFetch = fetchInit(connections.agent());
    /** undici.request on an Agent of its own, the body read: what every peer runs. */
    const undiciCall = () => {
      const dispatcher = connections.agent();
      return async () => (await request(url, { dispatcher })).body.json();
    };
    const rawUndici = undiciCall();
    const queued = undiciCall();
    const queue = new PQueue({ concurrency: IN_FLIGHT });
    const limited = undiciCall();
    const limit = pLimit(IN_FLIGHT);
    const throttled = undiciCall();
    const limiter = new Bottleneck({ maxConcurrent: IN_FLIGHT });
    // In run order: each of ours close after what it is compared with.
    const cases: Case[] = [
      { name: RAW_UNDICI, against: undefined, one: rawUndici, rounds: [] },
      {
        name: 'interceptor on an Agent',
        against: RAW_UNDICI,
        one: async () => (await request(url, { dispatcher: intercepted })).body.json(),
        rounds: [],
      },
      { name: OURS_UNDICI, against: RAW_UNDICI, one: async () => (await viaUndici.get('/item')).json(), rounds: [] },
      { name: P_QUEUE, against: RAW_UNDICI, one: () => queue.add(queued), rounds: [] },
      { name: 'p-limit + undici.request', against: RAW_UNDICI, one: () => limit(limited), rounds: [] },
      { name: 'Bottleneck + undici.request', against: RAW_UNDICI, one: () => limiter.schedule(throttled), rounds: [] },
      { name: RAW_FETCH, against: undefined, one: async () => (await fetch(url, rawFetch)).json(), rounds: [] },
      { name: "client, transport 'fetch'", against: RAW_FETCH, one: async () => (await viaFetch.get('/item')).json(), rounds: [] },
      { name: 'client.fetch', against: RAW_FETCH, one: async () => (await viaClientFetch.fetch(url)).json(), rounds: [] },
    ];
    const byName = (name: string) => cases.find((each) => each.name === name) as Case;
    try {
      for (const each of cases) await round(each.one, WARM_UP_MS);
      for (let r = 0; r < ROUNDS; r++) for (const each of cases) each.rounds.push(await round(each.one, ROUND_MS));
    } finally {
      await limiter.stop({ dropWaitingJobs: true });
    }

    const figures = cases.map((each) => ({
      name: each.name,
      against: each.against,
      requestsPerSecond: median(each.rounds.map((one) => one.perSecond)),
      p50Ms: median(each.rounds.map((one) => one.p50)),
      p99Ms: median(each.rounds.map((one) => one.p99)),
      cpuMicrosPerRequest: median(each.rounds.map((one) => one.cpuMicros)),
      /** Median of the per-round throughput ratios to the raw call. */
      vsRaw: each.against === undefined ? undefined : paired(each, byName(each.against), (one) => one.perSecond),
      /** Median of the per-round ratios of CPU time per request, this case / raw. */
      cpuVsRaw: each.against === undefined ? undefined : paired(each, byName(each.against), (one) => one.cpuMicros),
      rounds: each.rounds,
    }));
    console.log(
      table(
        ['case', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'vs raw', 'CPU vs raw'],
        figures.map((figure) => [
          figure.name,
          count(figure.requestsPerSecond),
          figure.p50Ms.toFixed(2),
          figure.p99Ms.toFixed(2),
          figure.cpuMicrosPerRequest.toFixed(1),
          figure.vsRaw === undefined ? '-' : ratio(figure.vsRaw, 1),
          figure.cpuVsRaw === undefined ? '-' : ratio(figure.cpuVsRaw, 1),
        ]),
      ),
    );
    const checks = CHECKS.map(({ ours, against, target }) => {
      const measured = paired(byName(ours), byName(against), (one) => one.perSecond);
      return { ours, against, target, measured, verdict: verdict(measured >= target) };
    });
    console.log(
      `\n${table(
        ['req/s of', 'against', 'measured', 'target', 'verdict'],
        checks.map((check) => [check.ours, check.against, ratio(check.measured, 1), `>= ${check.target.toFixed(2)}x`, check.verdict]),
      )}`,
    );
    results.record('http', { inFlight: IN_FLIGHT, rounds: ROUNDS, roundMs: ROUND_MS, cases: figures, checks });
  } finally {
    await connections.close();
    server.stop();
  }
}
