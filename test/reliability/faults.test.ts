// Reliability under faults: every fault of test/support/fault-server.ts on its own (each request settles
// with the right error, in a stated time, leaking no credential and holding no huge body), then all of
// them mixed into thousands of requests through one client per transport.
//
// The mix is randomized from a seed, printed at the start; run it again with FAULTS_SEED=<seed> to get
// the same requests in the same order (the timing of a real network is not replayed). FAULTS_MIX sets
// the number of requests per transport.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent } from 'undici';
import { kScheduleRequest } from '../../src/core/internal.js';
import {
  HttpError,
  NetworkError,
  RateLimitedClient,
  type RateLimitedClientOptions,
  type RequestOptions,
  TimeoutError,
} from '../../src/index.js';
import { type FaultServer, startFaultServer } from '../support/fault-server.js';

const TOKEN = 'Bearer FAULT-SECRET-TOKEN';
const CREDENTIALS = {
  authorization: TOKEN,
  cookie: 'session=FAULT-SECRET-COOKIE',
  'proxy-authorization': 'Basic RkFVTFQtU0VDUkVU',
  'x-api-key': 'FAULT-SECRET-KEY',
};
/** Retries with known delays: 20 ms before each (jitter off; the cap min(20, 10 * 2^n) is 20). */
const QUICK_RETRY = { retries: 2, minDelayMs: 10, maxDelayMs: 20, jitter: 'none' } as const;
/** Slack for a local round trip, a new connection and a busy event loop on a 2-core machine. */
const SLACK_MS = 750;
const REDIRECTS = [301, 302, 303, 307, 308] as const;

let fault: FaultServer;

beforeAll(async () => {
  fault = await startFaultServer();
});

afterAll(async () => {
  await fault.close();
});

beforeEach(() => fault.reset());

afterEach(() => {
  // Whatever the test did, no credential ever reached the other origin.
  expect(fault.otherHits.filter((hit) => Object.keys(hit.credentials).length > 0)).toEqual([]);
});

interface Settled<T> {
  value?: T;
  error?: unknown;
  ms: number;
}

async function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  const started = performance.now();
  try {
    const value = await promise;
    return { value, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

function shown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

for (const transport of ['fetch', 'undici'] as const) {
  describe(`each fault on its own, through the '${transport}' transport`, () => {
    const clients: RateLimitedClient[] = [];
    const client = (options: RateLimitedClientOptions = {}) => {
      const c = new RateLimitedClient({ baseUrl: fault.url, transport, headers: CREDENTIALS, retry: QUICK_RETRY, ...options });
      clients.push(c);
      return c;
    };
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close({ drain: false })));
    });

    it('a normal route resolves', async () => {
      const { value, error, ms } = await settle(client().get('/ok'));
      expect(error).toBeUndefined();
      expect(value?.status).toBe(200);
      expect(await value?.text()).toBe('ok');
      expect(ms).toBeLessThan(SLACK_MS);
    });

    // A reset is retried (UND_ERR_SOCKET and ECONNRESET are in the default errorCodes): 3 attempts,
    // 2 waits of 20 ms, each attempt one local round trip.
    for (const [path, causeCode] of [
      ['/reset', 'UND_ERR_SOCKET'], // FIN before any response
      ['/rst', 'ECONNRESET'], // TCP RST
      ['/reset-body', 'UND_ERR_SOCKET'], // FIN in the middle of the body
    ] as const) {
      it(`${path}: a socket closed mid-request rejects with NetworkError (${causeCode}) after its retries`, async () => {
        const c = client();
        const { error, ms } = await settle(c.get(path));
        expect(error, shown(error)).toBeInstanceOf(NetworkError);
        expect(error).toMatchObject({ causeCode, method: 'GET', url: `${fault.url}${path}` });
        expect(fault.hitsOf(path)).toBe(3);
        expect(ms).toBeLessThan(2 * 20 + SLACK_MS);
        expect(c.stats()).toMatchObject({ submitted: 3, retried: 2, failed: 3, inFlight: 0 });
      });
    }

    // Each attempt runs until timeoutMs (150): 3 attempts and 2 waits of 20 ms, so 490 ms at least.
    for (const path of ['/hang', '/stall-body']) {
      it(`${path}: an answer that never (fully) comes ends with TimeoutError (phase 'run') after 3 x timeoutMs`, async () => {
        const c = client({ timeoutMs: 150 });
        const { error, ms } = await settle(c.get(path));
        expect(error, shown(error)).toBeInstanceOf(TimeoutError);
        expect(error).toMatchObject({ phase: 'run', timeoutMs: 150 });
        expect(fault.hitsOf(path)).toBe(3);
        expect(ms).toBeGreaterThanOrEqual(3 * 150 + 2 * 20 - 5);
        expect(ms).toBeLessThan(3 * 150 + 2 * 20 + SLACK_MS);
        // The caller has its answer at the timeout; the aborted attempt gives its worker back just after.
        await c.onIdle();
        expect(c.stats()).toMatchObject({ failed: 3, inFlight: 0, queued: 0 });
      });
    }

    for (const status of [500, 502, 503]) {
      it(`a ${status} storm rejects with HttpError ${status} after its retries`, async () => {
        const c = client();
        const { error, ms } = await settle(c.get(`/status/${status}`));
        expect(error, shown(error)).toBeInstanceOf(HttpError);
        expect(error).toMatchObject({ status, method: 'GET', bodyPreview: `status ${status}`, retryAfterMs: undefined });
        expect(fault.hitsOf(`/status/${status}`)).toBe(3);
        if (status === 503) {
          // A bare 503 (no Retry-After, no rate-limit headers) is a refusal that says nothing (nginx's
          // limit_req answers so by default): the client cools down (100 ms, then 200) and learns a
          // rate (10 a second, then 0.7 of it at each of the next two refusals); the retries wait in
          // the queue for it.
          expect(ms).toBeLessThan(100 + 200 + SLACK_MS);
          expect(c.stats().cooldownUntil).not.toBeNull();
          expect(c.stats().learnedRate).toEqual({ limit: 4.9, windowMs: 1_000 });
        } else {
          expect(ms).toBeLessThan(2 * 20 + SLACK_MS);
          // Not a refusal: no shared cooldown, nothing learned.
          expect(c.stats().cooldownUntil).toBeNull();
          expect(c.stats().learnedRate).toBeUndefined();
        }
      });
    }

    it('a 429 storm with retry-after-ms: 100 waits 100 ms before each retry, with the whole client cooled down', async () => {
      const c = client();
      const cooldowns: number[] = [];
      c.on('rate-limited', (event) => cooldowns.push(event.waitMs));
      const { error, ms } = await settle(c.get('/status/429', { query: { 'retry-after-ms': 100 } }));
      expect(error, shown(error)).toBeInstanceOf(HttpError);
      expect(error).toMatchObject({ status: 429, retryAfterMs: 100 });
      expect(fault.hitsOf('/status/429')).toBe(3);
      expect(cooldowns).toEqual([100, 100, 100]);
      // Two waits of 100 ms (the server's word wins over the 20 ms backoff).
      expect(ms).toBeGreaterThanOrEqual(2 * 100 - 5);
      expect(ms).toBeLessThan(2 * 100 + SLACK_MS);
    });

    it('a 429 storm with Retry-After: 1 (seconds) waits a second before its retry, and shows the cooldown', async () => {
      const c = client({ retry: { ...QUICK_RETRY, retries: 1 } });
      const request = settle(c.get('/status/429', { query: { 'retry-after': 1 } }));
      await vi.waitFor(() => expect(c.stats().retried).toBe(1));
      const cooldownLeft = (c.stats().cooldownUntil ?? 0) - Date.now();
      expect(cooldownLeft).toBeGreaterThan(500);
      expect(cooldownLeft).toBeLessThanOrEqual(1_000);
      const { error, ms } = await request;
      expect(error).toMatchObject({ name: 'HttpError', status: 429, retryAfterMs: 1_000 });
      expect(ms).toBeGreaterThanOrEqual(1_000 - 5);
      expect(ms).toBeLessThan(1_000 + SLACK_MS);
    });

    it('a 429 storm with Retry-After: 0 retries at once and cools nothing down', async () => {
      const c = client({ retry: { ...QUICK_RETRY, minDelayMs: 1_000, maxDelayMs: 1_000 } });
      const events: unknown[] = [];
      c.on('rate-limited', (event) => events.push(event));
      const { error, ms } = await settle(c.get('/status/429', { query: { 'retry-after': 0 } }));
      expect(error).toMatchObject({ name: 'HttpError', status: 429, retryAfterMs: 0 });
      expect(fault.hitsOf('/status/429')).toBe(3);
      // The server's 0 wins over a 1 s backoff.
      expect(ms).toBeLessThan(SLACK_MS);
      expect(events).toEqual([]);
      expect(c.stats().cooldownUntil).toBeNull();
    });

    it('a bare 429 storm: every start cools down (growing while refusals continue), a rate is learned, the retries wait in the queue', async () => {
      const c = client();
      const delays: number[] = [];
      const reasons: string[] = [];
      c.on('retry', (event) => delays.push(event.delayMs));
      c.on('rate-limited', (event) => reasons.push(`${event.reason} ${event.waitMs}`));
      const { error, ms } = await settle(c.get('/status/429'));
      expect(error).toMatchObject({ name: 'HttpError', status: 429, retryAfterMs: undefined });
      expect(delays).toEqual([0, 0]);
      expect(reasons).toEqual(['refused 100', 'refused 200', 'refused 400']);
      expect(ms).toBeGreaterThanOrEqual(100 + 200 - 5);
      expect(ms).toBeLessThan(100 + 200 + SLACK_MS);
      expect(c.stats().learnedRate?.windowMs).toBe(1_000);
    });

    it('with adaptive: false, a 429 storm without Retry-After backs off by the retry policy, and cools nothing down', async () => {
      const c = client({ adaptive: false });
      const delays: number[] = [];
      c.on('retry', (event) => delays.push(event.delayMs));
      const { error, ms } = await settle(c.get('/status/429'));
      expect(error).toMatchObject({ name: 'HttpError', status: 429, retryAfterMs: undefined });
      expect(delays).toEqual([20, 20]);
      expect(ms).toBeGreaterThanOrEqual(2 * 20 - 5);
      expect(ms).toBeLessThan(2 * 20 + SLACK_MS);
      expect(c.stats().cooldownUntil).toBeNull();
    });

    it('garbage in every rate-limit header is ignored: no cooldown, no tightened window, no throw', async () => {
      const c = client({ rateLimit: { limit: 50, windowMs: 1_000 } });
      const events: unknown[] = [];
      c.on('rate-limited', (event) => events.push(event));
      c.on('error', (event) => events.push(event));
      const ok = await settle(c.get('/malformed'));
      expect(ok.error).toBeUndefined();
      expect(ok.value?.status).toBe(200);
      expect(events).toEqual([]);
      // The client's budget was not cut by a misread "remaining": 40 more start at once.
      const started = performance.now();
      await Promise.all(Array.from({ length: 40 }, () => c.get('/ok')));
      expect(performance.now() - started).toBeLessThan(SLACK_MS);
      // A 429 whose headers are all garbage says nothing of the limits: a bare refusal, learned from
      // as such (a cooldown and a rate), and nothing read from the garbage.
      const refused = await settle(c.get('/malformed', { query: { status: 429 } }));
      expect(refused.error).toMatchObject({ name: 'HttpError', status: 429, retryAfterMs: undefined });
      expect(fault.hitsOf('/malformed')).toBe(4);
      expect(refused.ms).toBeLessThan(100 + 200 + SLACK_MS);
      expect(events.map((event) => (event as { reason: string }).reason)).toEqual(['refused', 'refused', 'refused']);
      expect(c.stats()).toMatchObject({ windows: [{ limit: 50, windowMs: 1_000, used: 44 }] });
    });

    it('a 20 MB error body: HttpError with a preview of at most 4 KB, read no further, in bounded memory', async () => {
      const c = client({ concurrency: 8 });
      const before = process.memoryUsage().arrayBuffers;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5);
      // 8 at once, 3 attempts each: reading these bodies would hold up to 8 x 20 MB at a time.
      const results = await Promise.all(Array.from({ length: 8 }, () => settle(c.get('/huge'))));
      clearInterval(sampler);
      for (const { error, ms } of results) {
        expect(error, shown(error)).toBeInstanceOf(HttpError);
        const httpError = error as HttpError;
        expect(httpError.status).toBe(500);
        expect(httpError.bodyPreview.length).toBeLessThanOrEqual(4096);
        expect(httpError.bodyPreview).toBe('x'.repeat(4096));
        // What the error keeps is the preview, not the body.
        expect((await httpError.response.arrayBuffer()).byteLength).toBeLessThanOrEqual(4096);
        // Cut off at the preview: no waiting for 20 MB, nor for the 1 s preview limit.
        expect(ms).toBeLessThan(1_000);
      }
      expect(fault.hitsOf('/huge')).toBe(24);
      // The client stopped reading, so the server could hand the socket no more than what the
      // kernel buffers hold (about 4 MB here), never the whole body.
      await vi.waitFor(() => expect(fault.hugeBodies).toHaveLength(24));
      for (const body of fault.hugeBodies) expect(body.complete).toBe(false);
      expect(Math.max(...fault.hugeBodies.map((body) => body.sent))).toBeLessThan(10 * 1024 * 1024);
      // Buffers outside the V8 heap grew by far less than one body, let alone 8 of them.
      expect(peak - before).toBeLessThan(20 * 1024 * 1024);
    });

    describe('redirects to another origin, with credentials', () => {
      it('are not followed out of baseUrl: the 3xx is the answer, and the other origin sees nothing', async () => {
        const c = client();
        for (const status of REDIRECTS) {
          const { error } = await settle(c.get('/redirect', { query: { status } }));
          expect(error, shown(error)).toBeInstanceOf(HttpError);
          expect(error).toMatchObject({ status });
        }
        for (const path of ['/redirect-relative', '/redirect-chain']) {
          const { error } = await settle(c.get(path));
          expect(error).toMatchObject({ name: 'HttpError' });
        }
        expect(fault.otherHits).toEqual([]);
      });

      it('with allowAbsoluteUrls, are followed without a single credential header', async () => {
        const c = client({ allowAbsoluteUrls: true });
        for (const status of REDIRECTS) {
          for (const method of ['GET', 'POST', 'PUT'] as const) {
            const json = method === 'GET' ? undefined : { a: 1 };
            const response = await c.request({ method, path: '/redirect', query: { status }, json });
            expect(await response.text()).toBe('elsewhere');
          }
        }
        expect((await c.get('/redirect-relative')).status).toBe(200);
        expect((await c.get('/redirect-chain')).status).toBe(200);
        expect(fault.otherHits).toHaveLength(17);
        // And credentials given per request are dropped as well as the client's defaults.
        await c.get('/redirect', { headers: { authorization: 'Bearer PER-REQUEST-SECRET', cookie: 'b=PER-REQUEST' } });
        expect(fault.otherHits).toHaveLength(18);
        expect(fault.otherHits.map((hit) => hit.credentials)).toEqual(Array.from({ length: 18 }, () => ({})));
      });

      it('without a baseUrl, are followed without a single credential header', async () => {
        const c = client({ baseUrl: undefined });
        expect(await (await c.get(`${fault.url}/redirect`)).text()).toBe('elsewhere');
        expect(await (await c.get(`${fault.url}/redirect-chain`)).text()).toBe('elsewhere');
        expect(fault.otherHits.map((hit) => hit.credentials)).toEqual([{}, {}]);
      });
    });

    it('an unresolvable host rejects with NetworkError (ENOTFOUND), without the internet', async () => {
      // `.invalid` never resolves (RFC 6761), but glibc still asks the configured resolver. On this
      // machine it answers NXDOMAIN in under a millisecond, except that about 1 lookup in 100 gets no
      // answer and glibc waits 5 s before asking again. So one attempt, bounded by a 1 s timeoutMs: a
      // resolver that hangs ends it as a TimeoutError instead, which is the other right answer.
      const c = client({ baseUrl: undefined, timeoutMs: 1_000, retry: false });
      const { error, ms } = await settle(c.get(`${fault.unresolvableUrl}/x`));
      if (error instanceof TimeoutError) {
        console.log(`[faults] ${transport}: the resolver did not answer for nonexistent.invalid within 1 s`);
        expect(error).toMatchObject({ phase: 'run', timeoutMs: 1_000 });
      } else {
        expect(error, shown(error)).toBeInstanceOf(NetworkError);
        expect(error).toMatchObject({ causeCode: 'ENOTFOUND', url: `${fault.unresolvableUrl}/x` });
      }
      expect(ms).toBeLessThan(1_000 + SLACK_MS);
    });

    it('a refused port rejects with NetworkError (ECONNREFUSED) after its retries', async () => {
      const c = client({ baseUrl: fault.refusedUrl });
      const { error, ms } = await settle(c.get('/x'));
      expect(error, shown(error)).toBeInstanceOf(NetworkError);
      expect(error).toMatchObject({ causeCode: 'ECONNREFUSED' });
      expect(c.stats()).toMatchObject({ submitted: 3, retried: 2, failed: 3 });
      expect(ms).toBeLessThan(2 * 20 + SLACK_MS);
    });

    it('no error, event or stats() shows a credential', async () => {
      const c = client({ allowAbsoluteUrls: true, timeoutMs: 100, retry: false });
      const seen: unknown[] = [];
      c.on('retry', (event) => seen.push(event)).on('rate-limited', (event) => seen.push(event));
      const paths = [
        ...['/reset', '/rst', '/hang', '/huge', '/redirect'],
        ...['/status/503', '/status/429?retry-after-ms=10', '/malformed?status=429'],
      ];
      for (const path of paths) seen.push((await settle(c.get(path))).error);
      seen.push(c.stats());
      const text = [JSON.stringify(seen), inspect(seen, { depth: 8 })].join('\n');
      for (const secret of Object.values(CREDENTIALS)) expect(text).not.toContain(secret);
    });
  });
}

// ---- Bugs these faults found, each kept as a small test of its own (they fail until fixed) ----

describe.each(['fetch', 'undici'] as const)("bugs found under faults, through the '%s' transport", (transport) => {
  // BUG: onIdle() resolves while a request still waits to be retried or to follow a redirect. The
  // scheduler decides it is idle when the failed (or redirected) attempt gives its worker back
  // (Scheduler#finished -> #notifyWaiters), a few microtasks before the HTTP layer submits the retry
  // (retryAfter, in HttpLayer#follow) or the next hop. README: "A retry waiting out its delay is work
  // the client still owes: `onIdle()` and `close()` wait for it".
  for (const [path, what] of [
    ['/status/503', 'a retry'],
    ['/redirect', "a redirect's next hop"],
  ] as const) {
    it(`onIdle() waits for ${what}`, async () => {
      const retry = { ...QUICK_RETRY, minDelayMs: 50, maxDelayMs: 50 };
      const c = new RateLimitedClient({ baseUrl: fault.url, transport, allowAbsoluteUrls: true, retry });
      let settled = false;
      const request = c.get(path).then(
        () => (settled = true),
        () => (settled = true),
      );
      await c.onIdle();
      // Let every callback already due run, so a request that settled with the last attempt counts.
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled, `stats at onIdle(): ${JSON.stringify(c.stats())}`).toBe(true);
      await request;
      await c.close();
    });
  }

  // BUG (undici transport): an attempt that times out while its connection is still being set up
  // (DNS that does not answer, as on this machine for `.invalid` now and then, a connect that hangs,
  // or a request queued behind a user Pool's busy connections) keeps its worker and its permit until
  // the connection attempt ends, which may be never. The caller gets its TimeoutError on time, but
  // UndiciTransport#send passes the signal to `dispatcher.request()`, and undici only listens to it
  // once the request is written to a socket (nodejs/undici#386). README, timeoutMs: "Then it rejects
  // with TimeoutError (phase: 'run') and the request is aborted"; transport: "Both behave the same".
  // In the mix this is what makes the undici run slow to go idle.
  it('an attempt that times out while its connection is set up gives its worker back at the timeout', async () => {
    // A resolver that never answers: deterministic, where the real one hangs 1 time in 100.
    const neverResolves = () => {};
    const agent = new Agent({ connect: { lookup: neverResolves } as unknown as NonNullable<Agent.Options['connect']> });
    const c = new RateLimitedClient({ transport, dispatcher: agent, concurrency: 1, timeoutMs: 200, retry: false });
    try {
      const { error, ms } = await settle(c.get('http://hung-dns.invalid/x'));
      expect(error).toMatchObject({ name: 'TimeoutError', phase: 'run', timeoutMs: 200 });
      expect(ms).toBeLessThan(200 + SLACK_MS);
      // With concurrency 1, the next request waits for that worker.
      const next = await Promise.race([
        c.get(`${fault.url}/ok`).then((response) => `ok ${response.status}`),
        new Promise((resolve) => setTimeout(resolve, 1_000, 'still waiting after 1 s')),
      ]);
      expect(next, `stats: ${JSON.stringify(c.stats())}`).toBe('ok 200');
    } finally {
      // Fails the connection attempt, so that what still holds the worker ends and close() can finish.
      await agent.destroy();
      await c.close({ drain: false });
    }
  });

  // BUG: a shared signal gets one 'abort' listener per request waiting out a retry delay
  // (Scheduler#retryAfter, signal.addEventListener), so 11 such requests trigger Node's
  // MaxListenersExceededWarning. Queued and running requests share one listener per signal
  // (AbortWatch), precisely to avoid this.
  it('a signal shared by many requests waiting out retry delays adds no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    try {
      const retry = { ...QUICK_RETRY, retries: 1, minDelayMs: 100, maxDelayMs: 100 };
      // Without adaptive: with it, a 503 storm's retries wait in the queue (cooldown and learned rate),
      // not out retry delays, which is what this case is about.
      const c = new RateLimitedClient({ baseUrl: fault.url, transport, concurrency: 32, retry, adaptive: false });
      const controller = new AbortController();
      const results = await Promise.all(Array.from({ length: 32 }, () => settle(c.get('/status/503', { signal: controller.signal }))));
      expect(results.every((result) => result.error instanceof HttpError)).toBe(true);
      await c.close();
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

// ---- The mix ----

/** mulberry32: a small, fast, seedable PRNG; good enough to pick routes and options. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = process.env.FAULTS_SEED === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(process.env.FAULTS_SEED);
const MIX_REQUESTS = Number(process.env.FAULTS_MIX ?? 5_000);
const MIX_CONCURRENCY = 64;
const MIX_TIMEOUT_MS = 300;
/** How soon after the last submission the client must be idle (explained where it is checked). */
const MIX_TAIL_MS = 3_000;

interface MixRoute {
  readonly name: string;
  readonly weight: number;
  /** A path under the fault server, or a full URL. */
  path(random: () => number): string;
  /** How a request to it may end (besides an abort through the shared signal, or maxWaitMs). */
  readonly outcomes: readonly string[];
}

// A POST or PUT that is not retried may meet the reset while its body is still being sent.
const NETWORK = ['NetworkError UND_ERR_SOCKET', 'NetworkError ECONNRESET', 'NetworkError EPIPE'];

function mixRoutes(): MixRoute[] {
  const at = (path: string) => () => path;
  return [
    { name: 'ok', weight: 40, path: at('/ok'), outcomes: ['ok 200'] },
    { name: 'slow', weight: 8, path: (r) => `/slow?ms=${Math.floor(r() * 50)}`, outcomes: ['ok 200'] },
    { name: 'reset', weight: 5, path: at('/reset'), outcomes: NETWORK },
    { name: 'rst', weight: 5, path: at('/rst'), outcomes: NETWORK },
    // A streamed body that breaks fails while it is read, with the transport's own error.
    { name: 'reset-body', weight: 3, path: at('/reset-body'), outcomes: [...NETWORK, 'body UND_ERR_SOCKET'] },
    { name: 'hang', weight: 1.5, path: at('/hang'), outcomes: ['TimeoutError run'] },
    { name: 'stall-body', weight: 1.5, path: at('/stall-body'), outcomes: ['TimeoutError run'] },
    { name: '500', weight: 3, path: at('/status/500'), outcomes: ['HttpError 500'] },
    { name: '502', weight: 3, path: at('/status/502'), outcomes: ['HttpError 502'] },
    { name: '503', weight: 3, path: at('/status/503'), outcomes: ['HttpError 503'] },
    // Each of these cools the whole client down for its wait: kept short and rare.
    {
      name: '429 retry-after-ms',
      weight: 1,
      path: (r) => `/status/429?retry-after-ms=${5 + Math.floor(r() * 20)}`,
      outcomes: ['HttpError 429'],
    },
    { name: '429 retry-after 0', weight: 2, path: at('/status/429?retry-after=0'), outcomes: ['HttpError 429'] },
    { name: '429 bare', weight: 3, path: at('/status/429'), outcomes: ['HttpError 429'] },
    { name: 'malformed 200', weight: 2, path: at('/malformed'), outcomes: ['ok 200'] },
    { name: 'malformed 429', weight: 2, path: at('/malformed?status=429'), outcomes: ['HttpError 429'] },
    { name: 'huge', weight: 1, path: at('/huge'), outcomes: ['HttpError 500'] },
    { name: 'redirect', weight: 3, path: (r) => `/redirect?status=${REDIRECTS[Math.floor(r() * REDIRECTS.length)]}`, outcomes: ['ok 200'] },
    { name: 'refused', weight: 2, path: () => `${fault.refusedUrl}/x`, outcomes: ['NetworkError ECONNREFUSED'] },
    // The resolver here leaves about 1 lookup in 100 unanswered for 5 s, and many at once for longer.
    { name: 'dns', weight: 0.5, path: () => `${fault.unresolvableUrl}/x`, outcomes: ['NetworkError ENOTFOUND', 'TimeoutError run'] },
  ];
}

interface MixRequest {
  readonly index: number;
  readonly route: MixRoute;
  readonly options: RequestOptions;
  readonly shared: boolean;
  outcome: string | undefined;
}

function codeOf(error: unknown): string {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return (error as Error | undefined)?.name ?? String(error);
}

/** One word for how a request ended, to compare with its route's `outcomes`. */
function classify(error: unknown, abortReason: unknown): string {
  if (error === abortReason) return 'aborted';
  if (error instanceof HttpError) {
    const preview = error.bodyPreview.length;
    return preview > 4096 ? `HttpError ${error.status} preview ${preview}` : `HttpError ${error.status}`;
  }
  if (error instanceof NetworkError) return `NetworkError ${error.causeCode}`;
  if (error instanceof TimeoutError) return `TimeoutError ${error.phase}`;
  return `other ${shown(error)}`;
}

function describeMixRequest(r: MixRequest): string {
  const { method, path, json: _json, signal: _signal, ...rest } = r.options;
  return `#${r.index} ${method} ${path} ${JSON.stringify({ ...rest, signal: r.shared ? 'shared' : 'app' })}`;
}

/** How reading a streamed body ended, when it did not end well. */
function classifyBody(error: unknown, abortReason: unknown): string {
  if (error === abortReason) return 'aborted';
  if (error instanceof TimeoutError) return `TimeoutError ${error.phase}`;
  return `body ${codeOf(error)}`;
}

describe.each(['fetch', 'undici'] as const)("the mix, through the '%s' transport", (transport) => {
  it(
    `${MIX_REQUESTS} requests over every fault at concurrency ${MIX_CONCURRENCY}: all settle, stats add up, close() resolves`,
    { timeout: 45_000 },
    () => runMix(transport, (SEED + (transport === 'fetch' ? 0 : 1)) >>> 0),
  );
});

async function runMix(transport: 'fetch' | 'undici', seed: number): Promise<void> {
  console.log(`[faults mix] transport=${transport} seed=${seed} (FAULTS_SEED=${SEED}) requests=${MIX_REQUESTS}`);
  const random = prng(seed);
  const routes = mixRoutes();
  const totalWeight = routes.reduce((sum, route) => sum + route.weight, 0);
  const pick = () => {
    let x = random() * totalWeight;
    for (const route of routes) if ((x -= route.weight) < 0) return route;
    return routes[0] as MixRoute;
  };
  const sleep = (ms: number) => new Promise<'late'>((resolve) => setTimeout(resolve, ms, 'late'));
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  const unhandled: unknown[] = [];
  const warnings: string[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  const onWarning = (warning: Error) => void warnings.push(`${warning.name}: ${warning.message}`);
  process.on('unhandledRejection', onUnhandled);
  process.on('warning', onWarning);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 20);

  const client = new RateLimitedClient({
    baseUrl: fault.url,
    transport,
    headers: CREDENTIALS,
    concurrency: MIX_CONCURRENCY,
    timeoutMs: MIX_TIMEOUT_MS,
    allowAbsoluteUrls: true,
    // A window that binds now and then, so the windows are part of the mix too.
    rateLimit: { limit: 600, windowMs: 250 },
    // Not learning from bare refusals: a server that refuses a fifth of all requests at random (the mix)
    // would teach the client a rate far below the window (AIMD reads every refusal as a rate limit, as
    // TCP reads every loss as congestion), and this case is about every promise settling under faults.
    // Learning has its own tests (test/unit/retry/learned-rate.test.ts, bare-refusals, real-servers).
    adaptive: false,
    // Its own PRNG: retries interleave with the producer by timing, and must not shift its sequence.
    retry: { retries: 2, minDelayMs: 5, maxDelayMs: 40, maxRetryAfterMs: 200, random: prng(seed ^ 0x9e3779b9) },
  });
  try {
    // Every HTTP attempt (first tries, retries, redirect hops) goes through this internal entry point:
    // counting the calls gives an oracle for stats().submitted.
    let attempts = 0;
    const internal = client as unknown as Record<symbol, (...args: unknown[]) => Promise<unknown>>;
    const scheduleRequest = internal[kScheduleRequest]!.bind(client);
    internal[kScheduleRequest] = (...args: unknown[]) => {
      attempts++;
      return scheduleRequest(...args);
    };
    let retryEvents = 0;
    client.on('retry', () => retryEvents++);

    const controller = new AbortController();
    const abortReason = new Error('the mix gave up on these');
    const abortAfter = Math.floor(MIX_REQUESTS * 0.4);
    // Every other request carries an application-wide signal that never aborts (a shutdown signal):
    // thousands of requests on one signal, as a real service has them.
    const appSignal = new AbortController().signal;
    let settledCount = 0;
    let sharedAfterAbort = 0;

    const requests: MixRequest[] = [];
    const settledAll: Array<Promise<void>> = [];
    const pendingRequests = () => requests.filter((r) => r.outcome === undefined).map(describeMixRequest);
    const started = performance.now();
    // Each 'idle' event must mean what it says: once the callbacks already due have run, no caller waits.
    const prematureIdle: string[] = [];
    client.on('idle', () => {
      void tick().then(() => {
        const pending = pendingRequests();
        const at = Math.round(performance.now() - started);
        if (pending.length > 0) prematureIdle.push(`at ${at} ms: ${pending.length} pending, e.g. ${pending[0]}`);
      });
    });

    for (let index = 0; index < MIX_REQUESTS; index++) {
      // Producer backpressure, as a real producer would do it.
      await client.onSizeLessThan(512);
      const route = pick();
      const roll = random();
      const method = roll < 0.85 ? 'GET' : roll < 0.9 ? 'PUT' : 'POST';
      const shared = random() < 0.1;
      const options: RequestOptions = {
        method,
        path: route.path(random),
        priority: Math.floor(random() * 4),
        ...(method !== 'GET' && { json: { index } }),
        // Half the POSTs may be retried.
        ...(method === 'POST' && random() < 0.5 && { idempotencyKey: `mix-${seed}-${index}` }),
        signal: shared ? controller.signal : appSignal,
        ...(random() < 0.05 && { maxWaitMs: 20 + Math.floor(random() * 400) }),
        ...(random() < 0.05 && { timeoutMs: 150 }),
        ...(random() < 0.05 && { stream: true }),
        ...(random() < 0.03 && { retry: false as const }),
      };
      if (shared && controller.signal.aborted) sharedAfterAbort++;
      const request: MixRequest = { index, route, options, shared, outcome: undefined };
      requests.push(request);
      const outcome = client
        .request(options)
        // A streamed body is read here: the request is not over before its body is.
        .then((response) =>
          response.text().then(
            () => `ok ${response.status}`,
            (error: unknown) => classifyBody(error, abortReason),
          ),
        )
        .catch((error: unknown) => classify(error, abortReason));
      settledAll.push(
        outcome.then((outcome) => {
          request.outcome = outcome;
          if (++settledCount === abortAfter) controller.abort(abortReason);
        }),
      );
    }
    const submittedMs = performance.now() - started;

    // Idle soon after the last submission: at most 512 were queued (about 0.5 s of work here), and the
    // longest request takes 3 attempts of 300 ms, 2 retry waits of at most 40 ms and 2 cooldowns of at
    // most 200 ms (maxRetryAfterMs): 1.5 s. A worker held past its attempt's timeout shows here.
    const idle = client.onIdle().then(() => 'idle' as const);
    const tail = await Promise.race([idle, sleep(MIX_TAIL_MS)]);
    expect
      .soft(
        tail,
        `seed ${seed}: not idle ${MIX_TAIL_MS} ms after the last submission; stats ${JSON.stringify(client.stats())}; ` +
          `${pendingRequests().length} callers pending: ${pendingRequests().slice(0, 5).join('; ')}`,
      )
      .toBe('idle');
    if ((await Promise.race([idle, sleep(20_000)])) === 'late') {
      expect.fail(
        `seed ${seed}: never idle; stats ${JSON.stringify(client.stats())}; pending: ${pendingRequests().slice(0, 20).join(',')}`,
      );
    }
    const idleMs = performance.now() - started;
    // The watchdog: once onIdle() resolved, and the callbacks already due have run, no caller waits.
    await tick();
    expect.soft(pendingRequests(), `seed ${seed}: still pending after onIdle() resolved`).toEqual([]);
    // Then the hard bound: nothing may stay pending.
    await Promise.race([Promise.all(settledAll), sleep(5_000)]);
    const pending = pendingRequests();
    expect(pending.slice(0, 20), `seed ${seed}: ${pending.length} requests never settled`).toEqual([]);
    expect(settledCount).toBe(MIX_REQUESTS);
    await client.onIdle();
    const settledMs = performance.now() - started;
    clearInterval(sampler);
    loopDelay.disable();
    expect.soft(prematureIdle.slice(0, 10), `seed ${seed}: 'idle' events while callers still waited`).toEqual([]);

    // Every request ended as its fault says it must. Requests to a route that answers may still see
    // their last attempt run out of time: with no client at all, 64 concurrent requests to a local
    // server show a p99 latency of 150-600 ms on this 2-core machine (raw undici and fetch alike, in
    // a fresh process), so a 300 ms timeoutMs cuts a few off. Allowed, up to 2 % of them.
    const table = new Map<string, Map<string, number>>();
    const unexpected: string[] = [];
    const slowTail: string[] = [];
    const answering = requests.filter((r) => !r.route.outcomes.includes('TimeoutError run')).length;
    for (const r of requests) {
      const outcome = r.outcome as string;
      const row = table.get(r.route.name) ?? new Map<string, number>();
      table.set(r.route.name, row.set(outcome, (row.get(outcome) ?? 0) + 1));
      if (outcome === 'TimeoutError run' && !r.route.outcomes.includes(outcome)) {
        slowTail.push(`${describeMixRequest(r)} -> ${outcome}`);
      } else if (
        !r.route.outcomes.includes(outcome) &&
        !(outcome === 'aborted' && r.shared) &&
        !(outcome === 'TimeoutError queue' && r.options.maxWaitMs !== undefined)
      ) {
        unexpected.push(`${describeMixRequest(r)} -> ${outcome}`);
      }
    }
    const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
    const ms = (nanoseconds: number) => Math.round(nanoseconds / 1e6);
    console.log(
      [
        `[faults mix] ${transport}: submitted in ${Math.round(submittedMs)} ms, idle at ${Math.round(idleMs)} ms, ` +
          `all settled at ${Math.round(settledMs)} ms; arrayBuffers peak +${mb(peak - before)} MB; ` +
          `event loop delay p99 ${ms(loopDelay.percentile(99))} ms, max ${ms(loopDelay.max)} ms; ` +
          `${slowTail.length} of ${answering} requests to answering routes timed out on their last attempt`,
        ...[...table].map(([route, row]) => `  ${route.padEnd(20)} ${[...row].map(([o, n]) => `${o}: ${n}`).join(', ')}`),
      ].join('\n'),
    );
    const unexplained = `seed ${seed}: ${unexpected.length} requests ended in a way their fault does not explain`;
    expect.soft(unexpected.slice(0, 20), unexplained).toEqual([]);
    const slow = `seed ${seed}: timeouts on routes that answer: ${slowTail.slice(0, 10).join('; ')}`;
    // A request to a route that answers times out only when the machine stalls past the 300 ms attempt
    // limit. 2 % held while this ran beside lighter suites; CI now runs it beside real nginx and Redis
    // servers and the property tests on 2 cores, where 2.4 % was seen: 4 % still catches a client that
    // holds requests back (that shows as tens of percent).
    expect.soft(slowTail.length, slow).toBeLessThanOrEqual(answering * 0.04);

    // The shared signal aborted mid-run: it ended requests that were queued, running or waiting to
    // retry, not only those sent after it (which were refused at once).
    const aborted = requests.filter((r) => r.outcome === 'aborted').length;
    expect.soft(aborted, 'requests ended by the shared signal').toBeGreaterThan(sharedAfterAbort);
    expect.soft(requests.some((r) => r.options.maxWaitMs !== undefined && r.outcome === 'TimeoutError queue')).toBe(true);

    // stats() adds up: every accepted attempt (retries and redirect hops are attempts of their own)
    // ended in exactly one of completed, failed, dropped, aborted; the others were refused at submission.
    const stats = client.stats();
    console.log(`[faults mix] ${transport}: attempts=${attempts} retry events=${retryEvents} stats=${JSON.stringify(stats)}`);
    expect.soft(stats).toMatchObject({ queued: 0, blocked: 0, inFlight: 0, dropped: 0 });
    const ended = stats.completed + stats.failed + stats.dropped + stats.aborted;
    expect.soft(ended, 'completed + failed + dropped + aborted').toBe(stats.submitted);
    expect.soft(stats.submitted + stats.rejected, 'submitted + rejected = every attempt made').toBe(attempts);
    expect.soft(stats.retried, 'retried = retry events').toBe(retryEvents);
    expect.soft(stats.rejected, 'rejected >= requests sent with an aborted signal').toBeGreaterThanOrEqual(sharedAfterAbort);
    expect.soft(stats.aborted).toBeGreaterThan(0);
    expect.soft(stats.aborted).toBeLessThanOrEqual(requests.filter((r) => r.shared).length);
    expect.soft(stats.completed).toBeGreaterThanOrEqual(requests.filter((r) => r.outcome?.startsWith('ok')).length);

    // The redirects were followed, and never with a credential.
    expect.soft(fault.otherHits.length).toBeGreaterThan(0);
    expect.soft(fault.otherHits.filter((hit) => Object.keys(hit.credentials).length > 0)).toEqual([]);
    // 20 MB error bodies were cut off, never read: buffers outside the V8 heap (where response bodies
    // live) never grew by even one such body. Measured: +2 to +6 MB.
    expect.soft(peak - before, 'arrayBuffers growth').toBeLessThan(16 * 1024 * 1024);

    const closed = await Promise.race([client.close().then(() => 'closed'), sleep(5_000)]);
    expect.soft(closed, 'close()').toBe('closed');
    // Warnings and unhandled rejections are reported on a later tick.
    await tick();
    expect.soft(unhandled.map(shown), 'unhandled rejections').toEqual([]);
    expect
      .soft(
        warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')),
        'MaxListenersExceededWarning',
      )
      .toEqual([]);
  } finally {
    clearInterval(sampler);
    loopDelay.disable();
    process.off('unhandledRejection', onUnhandled);
    process.off('warning', onWarning);
    await client.close({ drain: false });
  }
}
