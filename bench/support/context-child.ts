/**
 * Run in its own process (`node --import tsx`) by bench/context.ts, so that an AsyncLocalStorage or an
 * OpenTelemetry SDK one mode enables (async hooks stay on once enabled) can not slow another mode down.
 * Queues `tasks` no-op tasks at concurrency 8 (all at once, or `batch` at a time), `rounds` times after
 * a warm-up, and prints the median tasks per second as JSON.
 *
 * Modes: `plain` (no AsyncLocalStorage in the process), `als` (every task scheduled inside `als.run()`),
 * `otel-off` (as `als`, with the OpenTelemetry SDK loaded and its context manager on, `instrument()` not
 * called), `otel-metrics` (`instrument()` with an SDK MeterProvider), `otel-all` (and a tracer provider
 * that records every wait span). `p-queue-als` and `p-limit-als`: the peers under `als.run()`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { QUEUES, runNoops } from '../contenders.js';
import { median } from '../lib/report.js';

const [mode = '', tasksText = '', roundsText = '', batchText = ''] = process.argv.slice(2);
const tasks = Number(tasksText);
const rounds = Number(roundsText);
/** Tasks queued at once: all of them (a deep queue), or so many at a time, each lot awaited. */
const batch = batchText === '' ? tasks : Number(batchText);
const MODES = ['plain', 'als', 'otel-off', 'otel-metrics', 'otel-all', 'p-queue-als', 'p-limit-als'];
if (!MODES.includes(mode) || !Number.isInteger(tasks) || !Number.isInteger(rounds) || !Number.isInteger(batch) || tasks % batch !== 0) {
  throw new Error(`usage: context-child <${MODES.join('|')}> <tasks> <rounds> [batch]; got ${JSON.stringify(process.argv.slice(2))}`);
}

const library = mode.startsWith('p-queue') ? 'p-queue' : mode.startsWith('p-limit') ? 'p-limit' : 'rate-limited-client';
const found = QUEUES.find((each) => each.name === library);
if (found === undefined) throw new Error(`no contender ${library}`);
const contender = found;

const stop = mode.startsWith('otel') ? await startOpenTelemetry(mode) : async () => {};
const als = mode === 'plain' ? undefined : new AsyncLocalStorage<string>();

async function once(count: number): Promise<number> {
  const runner = contender.create(8);
  const lot = Math.min(batch, count);
  const run = async () => {
    const begin = performance.now();
    for (let done = 0; done < count; done += lot) await runNoops(runner, lot, 1);
    return count / ((performance.now() - begin) / 1000);
  };
  const perSecond = als === undefined ? await run() : await als.run('caller', run);
  await runner.stop();
  return perSecond;
}

await once(Math.min(tasks, 20_000)); // warm-up
const samples: number[] = [];
for (let round = 0; round < rounds; round++) samples.push(await once(tasks));
await stop();
console.log(JSON.stringify({ mode, tasksPerSecond: median(samples) }));

/** The SDK as a service would set it up; the bench never exports, so only recording is measured. */
async function startOpenTelemetry(which: string): Promise<() => Promise<void>> {
  const api = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const metrics = await import('@opentelemetry/sdk-metrics');
  const traces = await import('@opentelemetry/sdk-trace-base');
  const { instrument } = await import('../../src/otel/index.js');
  const contextManager = new AsyncLocalStorageContextManager().enable();
  api.context.setGlobalContextManager(contextManager);
  if (which === 'otel-off') return async () => {};
  const reader = new metrics.PeriodicExportingMetricReader({
    exporter: new metrics.InMemoryMetricExporter(metrics.AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new metrics.MeterProvider({ readers: [reader] });
  // Spans are recorded and handed to a processor whose exporter drops them: what a sampled trace costs.
  const discard = { export: (_spans: unknown, done: (result: { code: number }) => void) => done({ code: 0 }), shutdown: async () => {} };
  const tracerProvider = new traces.BasicTracerProvider({ spanProcessors: [new traces.SimpleSpanProcessor(discard)] });
  const handle = instrument(which === 'otel-all' ? { meterProvider, tracerProvider } : { meterProvider });
  return async () => {
    handle.stop();
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
  };
}
