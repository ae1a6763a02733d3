/**
 * Section 5: HTTP on loopback. What our HTTP layer costs on top of the undici call it makes, against a
 * server in a process of its own (`bench/support/http-server.mjs`), 32 requests in flight, no rate limit.
 *
 * Connections: every case gets its own `new Agent({ keepAliveTimeout: 4_000 })` from the `undici`
 * package, which is exactly the Agent our client makes for itself when given no `dispatcher`: no cap
 * on connections per origin, so each case settles on ~32 keep-alive sockets. The raw cases pass theirs
 * explicitly (`dispatcher:`); our clients use their own.
 *
 * Noise (a 2-core VM, the server on the other core, often other work too): each case is warmed up,
 * then the cases run in interleaved rounds (case 1..5, case 1..5, …) of a fixed duration, each of our
 * cases right after the raw case it is compared with. req/s and latencies are the median round; "vs
 * raw" is the median of the per-round ratios (ours / the raw round just before it), so a slow moment
 * of the machine moves both sides of a ratio instead of one case. The client process's CPU time per
 * request is recorded too: contention stretches it far less than it stretches wall-clock throughput.
 */
import { fork } from 'node:child_process';
import { Agent, request } from 'undici';
import { RateLimitedClient } from '../src/index.js';
import { count, heading, median, quantile, ratio, type Results, table, verdict } from './lib/report.js';

const IN_FLIGHT = 32;
const ROUNDS = 7;
const ROUND_MS = 900;
const WARM_UP_MS = 700;
/** Our layer must keep this share of the raw call's throughput. */
const TARGET = 0.9;

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
  /** The raw case it is compared with, by name; none for a raw case. */
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

/** Starts the server process and resolves with its port; rejects if it dies or says nothing. */
function startServer(): { port: Promise<number>; stop: () => void } {
  const child = fork(new URL('./support/http-server.mjs', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('The HTTP benchmark server did not start within 10 s')), 10_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      const { port } = message as { port: number };
      if (port > 0) resolve(port);
      else reject(new Error('The HTTP benchmark server did not report its port'));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The HTTP benchmark server exited (code ${String(code)}) before it reported its port`));
    });
  });
  return { port, stop: () => void child.kill() };
}

export async function httpBench(results: Results): Promise<void> {
  heading(
    `HTTP on loopback: GET of a small JSON body, ${IN_FLIGHT} in flight, no rate limit`,
    'Server in its own process; every case its own keep-alive undici Agent (the one our client makes).',
    `${ROUNDS} interleaved rounds of ${ROUND_MS / 1000} s per case after a warm-up: req/s and latencies of the median round,`,
    "'vs raw' the median of the per-round ratios to the raw case of the same round (raw fetch for both fetch cases).",
    `target: our 'undici' transport >= ${TARGET}x raw undici.request; 'fetch' transport and client.fetch >= ${TARGET}x raw fetch`,
  );
  const server = startServer();
  const agents: Agent[] = [];
  const clients: RateLimitedClient[] = [];
  try {
    const port = await server.port;
    const url = `http://127.0.0.1:${port}/item`;
    const agent = () => {
      const made = new Agent({ keepAliveTimeout: 4_000 });
      agents.push(made);
      return made;
    };
    // Retries off, so a (never expected) failure shows as one; no rate limit, so only the layer costs.
    const client = (transport: 'undici' | 'fetch') => {
      const made = new RateLimitedClient({ baseUrl: `http://127.0.0.1:${port}`, transport, concurrency: IN_FLIGHT, retry: false });
      clients.push(made);
      return made;
    };
    const rawUndici = agent();
    const rawFetch = agent();
    const viaUndici = client('undici');
    const viaFetch = client('fetch');
    const viaClientFetch = client('fetch');
    // `dispatcher` is undici's extension of RequestInit; Node's own types name an older undici's.
    const fetchInit = { dispatcher: rawFetch } as unknown as RequestInit;
    // In run order: each of ours right after the raw case it is compared with.
    const cases: Case[] = [
      {
        name: 'raw undici.request',
        against: undefined,
        one: async () => (await request(url, { dispatcher: rawUndici })).body.json(),
        rounds: [],
      },
      {
        name: "client, transport 'undici'",
        against: 'raw undici.request',
        one: async () => (await viaUndici.get('/item')).json(),
        rounds: [],
      },
      { name: 'raw fetch', against: undefined, one: async () => (await fetch(url, fetchInit)).json(), rounds: [] },
      { name: "client, transport 'fetch'", against: 'raw fetch', one: async () => (await viaFetch.get('/item')).json(), rounds: [] },
      { name: 'client.fetch', against: 'raw fetch', one: async () => (await viaClientFetch.fetch(url)).json(), rounds: [] },
    ];
    for (const each of cases) await round(each.one, WARM_UP_MS);
    for (let r = 0; r < ROUNDS; r++) for (const each of cases) each.rounds.push(await round(each.one, ROUND_MS));

    const figures = cases.map((each) => {
      const base = cases.find((other) => other.name === each.against);
      // Round r of ours against round r of its raw case, run just before it (two slots before, for client.fetch).
      const paired = (of: (one: Round) => number) =>
        base === undefined ? undefined : median(each.rounds.map((one, r) => of(one) / of(base.rounds[r] as Round)));
      return {
        name: each.name,
        against: each.against,
        requestsPerSecond: median(each.rounds.map((one) => one.perSecond)),
        p50Ms: median(each.rounds.map((one) => one.p50)),
        p99Ms: median(each.rounds.map((one) => one.p99)),
        cpuMicrosPerRequest: median(each.rounds.map((one) => one.cpuMicros)),
        /** Median of the per-round throughput ratios to the raw case. */
        vsRaw: paired((one) => one.perSecond),
        /** Median of the per-round ratios of CPU time per request, ours / raw. */
        cpuVsRaw: paired((one) => one.cpuMicros),
        rounds: each.rounds,
      };
    });
    const rows = figures.map((figure) => [
      figure.name,
      count(figure.requestsPerSecond),
      figure.p50Ms.toFixed(2),
      figure.p99Ms.toFixed(2),
      figure.vsRaw === undefined ? '-' : ratio(figure.vsRaw, 1),
      figure.vsRaw === undefined ? '-' : `>= ${TARGET}x`,
      figure.vsRaw === undefined ? 'info' : verdict(figure.vsRaw >= TARGET),
    ]);
    console.log(table(['case', 'req/s', 'p50 ms', 'p99 ms', 'vs raw', 'target', 'verdict'], rows));
    results.record('http', {
      inFlight: IN_FLIGHT,
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      target: TARGET,
      cases: figures.map((figure) => ({ ...figure, verdict: figure.vsRaw === undefined ? 'info' : verdict(figure.vsRaw >= TARGET) })),
    });
  } finally {
    await Promise.allSettled([...clients.map((each) => each.close()), ...agents.map((each) => each.close())]);
    server.stop();
  }
}
