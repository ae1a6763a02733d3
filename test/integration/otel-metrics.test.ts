/**
 * `rate-limited-client/otel` metrics with the real SDK: a MeterProvider and a MetricReader this file
 * collects by hand, checked against workloads whose numbers are known (a paused queue, one task of
 * each outcome, waits behind a window, a local server answering 429 and 503).
 */
import { execFile } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import type { MeterProvider as ApiMeterProvider, BatchObservableCallback, Meter, Observable } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { DIAGNOSTICS_CHANNELS, RateLimitedClient, type RateLimitedClientOptions } from 'rate-limited-client';
import { instrument, type InstrumentHandle } from 'rate-limited-client/otel';

/** A reader this file collects when it wants a reading. */
class TestReader extends MetricReader {
  constructor(temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) {
    super({ aggregationTemporalitySelector: () => temporality });
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Every metric of this collection by name. Fails the test on a collection error (a callback that threw). */
  async read(): Promise<Map<string, MetricData>> {
    const { resourceMetrics, errors } = await this.collect();
    expect(errors).toEqual([]);
    const byName = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
    return byName;
  }
}

const NAME = 'rate_limited_client.name';

/** The data points of `metric` for the client named `client` (all of them when undefined). */
function pointsOf(metrics: Map<string, MetricData>, metric: string, client?: string): Array<DataPoint<number>> {
  const data = metrics.get(metric);
  if (data === undefined) return [];
  const points = data.dataPoints as Array<DataPoint<unknown>>;
  return points.filter((point) => client === undefined || point.attributes[NAME] === client) as Array<DataPoint<number>>;
}

/** The value of the one data point of `metric` for `client` with `extra` attributes; fails if not exactly one. */
function valueOf(metrics: Map<string, MetricData>, metric: string, client: string, extra: Record<string, unknown> = {}): number {
  const points = pointsOf(metrics, metric, client).filter((point) =>
    Object.entries(extra).every(([key, value]) => point.attributes[key] === value),
  );
  expect(points, `${metric} for ${client} ${JSON.stringify(extra)}`).toHaveLength(1);
  return (points[0] as DataPoint<number>).value;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  // All of them, even after one failed: a handle left subscribed would fail the tests after it.
  const results = await Promise.allSettled(
    cleanups
      .splice(0)
      .reverse()
      .map((cleanup) => Promise.resolve().then(cleanup)),
  );
  for (const result of results) if (result.status === 'rejected') throw result.reason;
});

/** A MeterProvider with `readers`, an instrument() handle on it, both undone after the test. */
function setUp(...readers: TestReader[]): {
  provider: MeterProvider;
  handle: InstrumentHandle;
} {
  const provider = new MeterProvider({ readers });
  const handle = instrument({ meterProvider: provider });
  cleanups.push(
    () => provider.shutdown(),
    () => handle.stop(),
  );
  return { provider, handle };
}

function newClient(options: RateLimitedClientOptions): RateLimitedClient {
  const client = new RateLimitedClient(options);
  cleanups.push(() => client.close({ drain: false }));
  return client;
}

const ALL_CHANNELS = Object.values(DIAGNOSTICS_CHANNELS);
const subscribed = () => ALL_CHANNELS.filter((name) => diagnosticsChannel.hasSubscribers(name));

describe('otel metrics with the real SDK', () => {
  it('queue.size (queued and blocked), queue.capacity, active_requests and window.usage mid-run (queue paused), then drained', async () => {
    const reader = new TestReader();
    setUp(reader);
    const client = newClient({
      name: 'paused',
      concurrency: 2,
      rateLimit: [
        { limit: 10, windowMs: 60_000 },
        { limit: 20, windowMs: 120_000 },
        { limit: 1, windowMs: 30_000, burst: 8 }, // a bucket: its usage is over its burst
      ],
      queue: { maxSize: 4 }, // overflow 'block': the fifth waits outside the queue
    });
    const release = deferred();
    cleanups.push(release.resolve); // before close() on a failure: close() waits for what runs
    const running = [client.schedule(() => release.promise), client.schedule(() => release.promise)];
    client.pause();
    const waiting = Array.from({ length: 5 }, (_, i) => client.schedule(() => i));
    expect(client.stats()).toMatchObject({
      queued: 4,
      blocked: 1,
      inFlight: 2,
    });

    const mid = await reader.read();
    expect(valueOf(mid, 'rate_limited_client.queue.size', 'paused')).toBe(5);
    expect(valueOf(mid, 'rate_limited_client.queue.capacity', 'paused')).toBe(4);
    expect(valueOf(mid, 'rate_limited_client.active_requests', 'paused')).toBe(2);
    const window = (ms: number) => ({
      'rate_limited_client.window.ms': ms,
      'rate_limited_client.window.counts': 'requests',
    });
    expect(valueOf(mid, 'rate_limited_client.window.usage', 'paused', window(60_000))).toBeCloseTo(2 / 10, 10);
    expect(valueOf(mid, 'rate_limited_client.window.usage', 'paused', window(120_000))).toBeCloseTo(2 / 20, 10);
    expect(valueOf(mid, 'rate_limited_client.window.usage', 'paused', window(30_000))).toBeCloseTo(2 / 8, 10);
    // Kinds and units as OpenTelemetry's naming rules say.
    expect(mid.get('rate_limited_client.queue.size')).toMatchObject({
      dataPointType: DataPointType.SUM,
      isMonotonic: false,
      descriptor: { unit: '{task}' },
    });
    expect(mid.get('rate_limited_client.queue.capacity')).toMatchObject({
      dataPointType: DataPointType.SUM,
      isMonotonic: false,
    });
    expect(mid.get('rate_limited_client.active_requests')).toMatchObject({
      dataPointType: DataPointType.SUM,
      isMonotonic: false,
      descriptor: { unit: '{request}' },
    });
    expect(mid.get('rate_limited_client.window.usage')).toMatchObject({
      dataPointType: DataPointType.GAUGE,
      descriptor: { unit: '1' },
    });

    release.resolve();
    client.resume();
    await Promise.all([...running, ...waiting]);
    await client.onIdle();
    const after = await reader.read();
    expect(valueOf(after, 'rate_limited_client.queue.size', 'paused')).toBe(0);
    expect(valueOf(after, 'rate_limited_client.active_requests', 'paused')).toBe(0);
    expect(valueOf(after, 'rate_limited_client.queue.capacity', 'paused')).toBe(4);
    expect(valueOf(after, 'rate_limited_client.window.usage', 'paused', window(60_000))).toBeCloseTo(7 / 10, 10);
    expect(
      valueOf(after, 'rate_limited_client.requests', 'paused', {
        'rate_limited_client.outcome': 'completed',
      }),
    ).toBe(7);
  });

  it('an unbounded queue reports no capacity; a client without a name has no name attribute', async () => {
    const reader = new TestReader();
    setUp(reader);
    const client = newClient({ concurrency: 1 });
    await client.schedule(() => 'x');
    const metrics = await reader.read();
    expect(pointsOf(metrics, 'rate_limited_client.queue.capacity')).toEqual([]);
    const sizes = pointsOf(metrics, 'rate_limited_client.queue.size');
    expect(sizes.map((point) => point.attributes)).toEqual([{}]);
    expect(pointsOf(metrics, 'rate_limited_client.requests').map((point) => point.attributes)).toEqual([
      { 'rate_limited_client.outcome': 'completed' },
    ]);
  });

  it('a bounded queue reports its capacity from the start, before it ever held a task', async () => {
    const reader = new TestReader();
    setUp(reader);
    newClient({ name: 'fresh', queue: { maxSize: 25, overflow: 'reject' } });
    const metrics = await reader.read();
    expect(valueOf(metrics, 'rate_limited_client.queue.capacity', 'fresh')).toBe(25);
  });

  it('requests by outcome (completed, failed, aborted, dropped) and cost of the tasks that started', async () => {
    const reader = new TestReader();
    setUp(reader);
    const client = newClient({
      name: 'outcomes',
      concurrency: 2,
      queue: { maxSize: 2, overflow: 'drop-oldest' },
    });
    client.pause();
    const settled: Array<Promise<unknown>> = [];
    const victim = client.schedule(() => 'dropped before it runs'); // queue: [victim]
    const abort = new AbortController();
    const aborted = client.schedule(() => 'aborted before it runs', {
      signal: abort.signal,
    }); // [victim, aborted]
    abort.abort(new Error('changed my mind')); // [victim]
    const heavy = client.schedule(() => 'completed', { weight: 2 }); // [victim, heavy]
    const failing = client.schedule(() => {
      throw new Error('boom');
    }); // full: drop-oldest pushes out victim -> [heavy, failing]
    settled.push(victim, aborted, heavy, failing);
    client.resume();
    const results = await Promise.allSettled(settled);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'rejected']);

    const metrics = await reader.read();
    const outcome = (name: string) =>
      valueOf(metrics, 'rate_limited_client.requests', 'outcomes', {
        'rate_limited_client.outcome': name,
      });
    expect([outcome('completed'), outcome('failed'), outcome('aborted'), outcome('dropped')]).toEqual([1, 1, 1, 1]);
    expect(metrics.get('rate_limited_client.requests')).toMatchObject({
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
    });
    // Only heavy (weight 2) and failing (weight 1) started.
    expect(
      valueOf(metrics, 'rate_limited_client.cost', 'outcomes', {
        'rate_limited_client.currency': 'requests',
      }),
    ).toBe(3);
    const waits = pointsOf(metrics, 'rate_limited_client.request.time_in_queue', 'outcomes') as unknown as Array<DataPoint<Histogram>>;
    expect(waits.map((point) => point.value.count)).toEqual([2]);
  });

  it('cost in every currency: the estimate, or the cost the task settled before its end', async () => {
    const reader = new TestReader();
    setUp(reader);
    const client = newClient({
      name: 'currencies',
      rateLimit: [
        { limit: 100, windowMs: 60_000 },
        { limit: 10_000, windowMs: 60_000, counts: 'tokens' },
      ],
    });
    await client.schedule(() => 'estimate stands', { cost: { tokens: 700 } });
    await client.schedule((context) => context.setCost({ tokens: 40 }), { cost: { tokens: 900 } });
    await client.schedule(() => 'no tokens');
    const metrics = await reader.read();
    const spent = (currency: string) =>
      valueOf(metrics, 'rate_limited_client.cost', 'currencies', { 'rate_limited_client.currency': currency });
    expect([spent('requests'), spent('tokens')]).toEqual([3, 740]);
  });

  it('request.time_in_queue: seconds from enqueue to start, behind a window of 1 per 300 ms', async () => {
    const reader = new TestReader();
    setUp(reader);
    const client = newClient({
      name: 'waits',
      rateLimit: { limit: 1, windowMs: 300 },
    });
    const before = performance.now();
    const tasks = Array.from({ length: 3 }, () => client.schedule(() => performance.now()));
    const after = performance.now();
    const ranAt = await Promise.all(tasks);

    const metrics = await reader.read();
    const data = metrics.get('rate_limited_client.request.time_in_queue');
    expect(data).toMatchObject({
      dataPointType: DataPointType.HISTOGRAM,
      descriptor: { unit: 's' },
    });
    const [point, ...others] = pointsOf(metrics, 'rate_limited_client.request.time_in_queue', 'waits') as unknown as Array<
      DataPoint<Histogram>
    >;
    expect(others).toEqual([]);
    const histogram = (point as DataPoint<Histogram>).value;
    expect(histogram.count).toBe(3);
    // Bounds from this test's own clock readings, whatever the machine's load. Every task was queued
    // between `before` and `after`; the window lets the second start no sooner than 300 ms after the
    // first (which started after `before`), the third 600 ms after: at least 0.9 s of waiting, less
    // what the queueing itself took. And no more than from `before` to each task's first line, which
    // also rules out milliseconds.
    const queueing = after - before;
    expect(histogram.sum).toBeGreaterThanOrEqual((300 - queueing + 600 - queueing) / 1000 - 0.001);
    expect(histogram.sum).toBeLessThanOrEqual(ranAt.reduce((sum, ran) => sum + (ran - before), 0) / 1000);
    // Buckets suited to queue waits: the explicit boundaries, from a millisecond to a minute.
    expect(histogram.buckets.boundaries[0]).toBe(0.001);
    expect(histogram.buckets.boundaries.at(-1)).toBe(60);
    const aboveQuarterSecond = histogram.buckets.boundaries.reduce(
      (sum, bound, i) => (bound >= 0.5 ? sum + (histogram.buckets.counts[i] ?? 0) : sum),
      histogram.buckets.counts.at(-1) ?? 0,
    );
    // The two that waited for the window, unless queueing three tasks took longer than 50 ms.
    if (queueing < 50) expect(aboveQuarterSecond).toBe(2);
  });

  it('server.refusals by status and retries, from a local server answering 429 and 503', async () => {
    // /refuse: always 429 (no Retry-After); /flaky: 503 once, then 200; anything else 200.
    const sent: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      const path = req.url ?? '/';
      const status = path === '/refuse' ? 429 : path === '/flaky' && !sent.includes(503) ? 503 : 200;
      sent.push(status);
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"ok":true}' : '{"error":"no"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const reader = new TestReader();
    setUp(reader);
    const client = newClient({
      name: 'http',
      baseUrl: url,
      retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 },
    });

    const calls = [
      () => client.get('/flaky'), // 503, retried, 200
      () => client.get('/refuse', { throwHttpErrors: false }),
      () => client.get('/refuse', { throwHttpErrors: false, retry: false }),
      () => client.get('/ok'),
    ];
    for (const call of calls) await call();
    const count = (status: number) => sent.filter((s) => s === status).length;
    expect(count(503)).toBe(1);
    expect(count(429)).toBeGreaterThanOrEqual(2);

    const metrics = await reader.read();
    const refusals = (status: number) =>
      valueOf(metrics, 'rate_limited_client.server.refusals', 'http', {
        'http.response.status_code': status,
      });
    // Every refusal the server sent, none of its 200s.
    expect([refusals(503), refusals(429)]).toEqual([count(503), count(429)]);
    expect(pointsOf(metrics, 'rate_limited_client.server.refusals', 'http')).toHaveLength(2);
    // Every request the server saw beyond one per call was a retry.
    expect(valueOf(metrics, 'rate_limited_client.retries', 'http')).toBe(sent.length - calls.length);
    expect(sent.length - calls.length).toBeGreaterThanOrEqual(1);
  });

  it('sees a client made before instrument() at its first task, one made after at once; a closed one no more', async () => {
    const early = newClient({ name: 'early' });
    // Delta temporality: an observable's points are those of this collection only, so a client no
    // longer observed shows as a missing point (cumulative readers keep the last point they had).
    const reader = new TestReader(AggregationTemporality.DELTA);
    setUp(reader);
    const late = newClient({ name: 'late' });
    const shortLived = newClient({ name: 'short-lived' });
    await shortLived.schedule(() => 'x');
    await shortLived.close();

    const first = await reader.read();
    expect(pointsOf(first, 'rate_limited_client.queue.size', 'early')).toEqual([]);
    expect(pointsOf(first, 'rate_limited_client.queue.size', 'late')).toHaveLength(1);
    expect(pointsOf(first, 'rate_limited_client.queue.size', 'short-lived')).toEqual([]);
    // Its task was counted while it lived.
    expect(
      valueOf(first, 'rate_limited_client.requests', 'short-lived', {
        'rate_limited_client.outcome': 'completed',
      }),
    ).toBe(1);

    await early.schedule(() => 'seen now');
    const second = await reader.read();
    expect(pointsOf(second, 'rate_limited_client.queue.size', 'early')).toHaveLength(1);
    expect(pointsOf(second, 'rate_limited_client.active_requests', 'late')).toHaveLength(1);

    await late.close();
    const third = await reader.read();
    expect(pointsOf(third, 'rate_limited_client.queue.size', 'late')).toEqual([]);
    expect(pointsOf(third, 'rate_limited_client.active_requests', 'late')).toEqual([]);
    expect(pointsOf(third, 'rate_limited_client.queue.size', 'early')).toHaveLength(1);
  });

  it('lets go of a client that was collected without being closed', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const reader = new TestReader(AggregationTemporality.DELTA);
    setUp(reader);
    // In a function of its own, so that nothing on this test's stack refers to the client.
    const use = async (): Promise<WeakRef<RateLimitedClient>> => {
      const client = new RateLimitedClient({
        name: 'forgotten',
        rateLimit: { limit: 100, windowMs: 50 },
      });
      await client.schedule(() => 'x');
      await client.onIdle();
      return new WeakRef(client);
    };
    const ref = await use();
    const seen = await reader.read();
    expect(pointsOf(seen, 'rate_limited_client.queue.size', 'forgotten')).toHaveLength(1);

    // A WeakRef's target survives the turn that read it, and finalizers run in turns of their own.
    for (let round = 0; round < 20 && ref.deref() !== undefined; round++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
    }
    expect(ref.deref(), 'the client is still reachable: something holds it').toBeUndefined();
    const after = await reader.read();
    expect(pointsOf(after, 'rate_limited_client.queue.size', 'forgotten')).toEqual([]);
  });

  it('stop() leaves no subscriber and no callback; two handles are independent; stop() twice is harmless', async () => {
    expect(subscribed(), 'another file left a subscriber behind').toEqual([]);
    const reader = new TestReader(AggregationTemporality.DELTA);
    const provider = new MeterProvider({ readers: [reader] });
    cleanups.push(() => provider.shutdown());
    const one = instrument({ meterProvider: provider });
    const two = instrument({ meterProvider: provider });
    expect(subscribed()).toEqual(ALL_CHANNELS);

    const client = newClient({ name: 'stopping' });
    await client.schedule(() => 'x');
    one.stop();
    one.stop();
    expect(subscribed()).toEqual(ALL_CHANNELS);
    // The count is the client's own (observed from its stats), whichever handles report it: two
    // handles on one provider do not count a task twice, and `two` still reports after `one` stopped.
    await client.schedule(() => 'y');
    const both = await reader.read();
    expect(
      valueOf(both, 'rate_limited_client.requests', 'stopping', {
        'rate_limited_client.outcome': 'completed',
      }),
    ).toBe(2);
    expect(valueOf(both, 'rate_limited_client.queue.size', 'stopping')).toBe(0);

    two.stop();
    expect(subscribed()).toEqual([]);
    await client.schedule(() => 'z');
    const none = await reader.read();
    expect(pointsOf(none, 'rate_limited_client.requests')).toEqual([]);
    expect(pointsOf(none, 'rate_limited_client.queue.size')).toEqual([]);
    expect(pointsOf(none, 'rate_limited_client.request.time_in_queue')).toEqual([]);
  });

  it('stop() removes the batch observable callback it added, with the same callback and instruments', () => {
    const calls: Array<{ op: 'add' | 'remove'; callback: unknown; observables: unknown[] }> = [];
    const provider = new MeterProvider();
    cleanups.push(() => provider.shutdown());
    // The SDK's provider, with its meters' callback registration recorded on the way through.
    const recording: ApiMeterProvider = {
      getMeter(...args) {
        const meter = provider.getMeter(...args);
        return Object.assign(Object.create(meter) as Meter, {
          addBatchObservableCallback: (callback: BatchObservableCallback, observables: Observable[]) => {
            calls.push({ op: 'add', callback, observables: [...observables] });
            meter.addBatchObservableCallback(callback, observables);
          },
          removeBatchObservableCallback: (callback: BatchObservableCallback, observables: Observable[]) => {
            calls.push({ op: 'remove', callback, observables: [...observables] });
            meter.removeBatchObservableCallback(callback, observables);
          },
        });
      },
    };
    const handle = instrument({ meterProvider: recording });
    expect(calls.map((call) => call.op)).toEqual(['add']);
    handle.stop();
    handle.stop();
    expect(calls.map((call) => call.op)).toEqual(['add', 'remove']);
    const [added, removed] = calls as [(typeof calls)[0], (typeof calls)[0]];
    expect(removed.callback).toBe(added.callback);
    expect(removed.observables).toHaveLength(7);
    removed.observables.forEach((observable, i) => expect(observable).toBe(added.observables[i]));
  });

  it('nothing is subscribed before instrument() is called', async () => {
    const client = newClient({ name: 'unwatched' });
    await client.schedule(() => 'x');
    expect(subscribed()).toEqual([]);
  });

  it('bad input: a TypeError naming the option, and nothing subscribed', () => {
    expect(() => instrument(42 as never)).toThrow(new TypeError('Expected `options` to be an object, got `42` (number)'));
    expect(() => instrument({ meter: {} } as never)).toThrow(
      new TypeError('Unknown option `meter`; expected one of `meterProvider`, `tracerProvider`'),
    );
    expect(() => instrument({ meterProvider: 42 as never })).toThrow(
      new TypeError('Expected `meterProvider` to be an OpenTelemetry MeterProvider (an object with getMeter()), got `42` (number)'),
    );
    expect(() =>
      instrument({
        meterProvider: {
          getTracer: () => undefined,
        } as unknown as ApiMeterProvider,
      }),
    ).toThrow(/Expected `meterProvider` to be an OpenTelemetry MeterProvider \(an object with getMeter\(\)\), got `object` \(object\)/);
    expect(() => instrument({ tracerProvider: null as never })).toThrow(
      new TypeError('Expected `tracerProvider` to be an OpenTelemetry TracerProvider (an object with getTracer()), got `null` (null)'),
    );
    expect(subscribed()).toEqual([]);
    // undefined means the global providers.
    const handle = instrument({
      meterProvider: undefined,
      tracerProvider: undefined,
    });
    handle.stop();
    instrument().stop();
    expect(subscribed()).toEqual([]);
  });
});

/**
 * A child process that imports the entry given as argv[1] and prints every module it loaded: the URLs
 * an ESM resolve hook saw, and the CommonJS cache (`@opentelemetry/api` is CommonJS, and the files it
 * requires reach only that cache).
 */
const LIST_LOADED_MODULES = `
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const resolved = [];
port1.on('message', (url) => resolved.push(url));
const hooks = 'export function initialize({ port }) { globalThis.port = port; }' +
  'export async function resolve(s, c, next) { const r = await next(s, c); globalThis.port.postMessage(r.url); return r; }';
register('data:text/javascript,' + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });
await import(process.argv[1]);
await new Promise((resolve) => setTimeout(resolve, 50));
port1.close();
console.log(JSON.stringify([...resolved, ...Object.keys(createRequire(process.cwd() + '/').cache)]));
`;

async function modulesLoadedBy(entry: string): Promise<string[]> {
  const path = fileURLToPath(new URL(`../../src/${entry}`, import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    LIST_LOADED_MODULES,
    path,
  ]);
  return JSON.parse(stdout) as string[];
}

describe('the otel entry point', () => {
  it('the main entry loads nothing of OpenTelemetry (and the probe does see what the otel entry loads)', async () => {
    const [main, otel] = [await modulesLoadedBy('index.ts'), await modulesLoadedBy('otel/index.ts')];
    expect(
      main.some((url) => url.endsWith('/src/client.ts')),
      'the probe saw the main entry load',
    ).toBe(true);
    expect(main.filter((url) => url.includes('@opentelemetry') || url.includes('/src/otel/'))).toEqual([]);
    expect(otel.filter((url) => url.includes('@opentelemetry/api/')).length).toBeGreaterThan(0);
    expect(otel.some((url) => url.endsWith('/src/otel/instrument.ts'))).toBe(true);
  });
});
