/**
 * `npx tsx examples/observability.ts`: the clients' metrics in Prometheus, through OpenTelemetry.
 *
 * `instrument()` from `rate-limited-client/otel` reports every client of the process to a MeterProvider
 * (here the SDK's, read by `@opentelemetry/exporter-prometheus`, which serves `/metrics` the way a
 * Prometheus server scrapes it). The code that makes and uses the clients has no monitoring code: it
 * only gives each client a `name`, which becomes the `rate_limited_client_name` label.
 *
 * The workload, against two local mock APIs: 'catalog' sends 60 requests through a quota of 20 per
 * second with a bounded queue (the queue fills at once and drains over about 2 seconds: the queue depth
 * and time-in-queue signals); 'eager' has no limit of its own against an API that allows 4 per second,
 * so it hears 429s and retries them (the refusal and retry signals). Mid-run and at the end, the example
 * scrapes its own `/metrics` over HTTP and prints the `rate_limited_client_*` lines; it exits non-zero
 * when a documented metric is missing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { RateLimitedClient } from 'rate-limited-client';
import { instrument } from 'rate-limited-client/otel';
import { startMockApi } from './support/mock-api.js';

/**
 * The Prometheus names of the documented metrics (API.md, docs/opentelemetry.md), as this exporter
 * writes them: dots become underscores, counters get `_total`, a histogram is its `_bucket`, `_sum` and
 * `_count` series. (This exporter does not append units; Prometheus' own OTLP endpoint does.)
 */
const EXPECTED = [
  'rate_limited_client_queue_size',
  'rate_limited_client_queue_capacity',
  'rate_limited_client_active_requests',
  'rate_limited_client_request_time_in_queue_bucket',
  'rate_limited_client_request_time_in_queue_sum',
  'rate_limited_client_request_time_in_queue_count',
  'rate_limited_client_requests_total',
  'rate_limited_client_retries_total',
  'rate_limited_client_window_usage',
  'rate_limited_client_cost_total',
  'rate_limited_client_server_refusals_total',
];

/** A port nobody listens on now (the exporter reads port 0 as "use its default, 9464"). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The exporter serving /metrics on 127.0.0.1 (another process could take the free port first: try again). */
async function startExporter(): Promise<{
  exporter: PrometheusExporter;
  url: string;
}> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const exporter = new PrometheusExporter({
      host: '127.0.0.1',
      port,
      preventServerStart: false,
    });
    try {
      await exporter.startServer();
      return { exporter, url: `http://127.0.0.1:${port}/metrics` };
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

/** What a Prometheus server would read: our series only. */
async function scrape(url: string): Promise<string[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return (await response.text()).split('\n').filter((line) => line.startsWith('rate_limited_client_'));
}

// --- Observability setup: once, at start-up, before or after the clients exist.
const { exporter, url: metricsUrl } = await startExporter();
const meterProvider = new MeterProvider({ readers: [exporter] });
const otel = instrument({ meterProvider });

// --- The application: clients with a name, and nothing else about monitoring.
const catalogApi = await startMockApi({ limit: 20, windowMs: 1_000 });
const eagerApi = await startMockApi({ limit: 4, windowMs: 1_000 });
const catalog = new RateLimitedClient({
  name: 'catalog',
  baseUrl: catalogApi.url,
  concurrency: 4,
  rateLimit: { limit: 20, windowMs: 1_000 },
  queue: { maxSize: 100 },
});
const eager = new RateLimitedClient({
  name: 'eager',
  baseUrl: eagerApi.url,
  concurrency: 2,
  retry: { retries: 5, maxRetryAfterMs: 5_000 },
});

const work = Promise.allSettled([
  ...Array.from({ length: 60 }, (_, i) => catalog.get(`/items/${i}`)),
  ...Array.from({ length: 8 }, (_, i) => eager.get(`/things/${i}`)),
]);

// Mid-run, right after the burst: the catalog's queue holds what its quota has not let out yet (the
// first 20 start now, the next 20 a second later).
const midRun = await scrape(metricsUrl);
console.log('--- /metrics right after the burst: queue depth');
for (const line of midRun.filter((l) => l.startsWith('rate_limited_client_queue_size'))) console.log(line);

const results = await work;
await Promise.all([catalog.onIdle(), eager.onIdle()]);

// Scraped before close(): a closed client is no longer observed.
const lines = await scrape(metricsUrl);
console.log('\n--- /metrics at the end');
for (const line of lines) console.log(line);

await Promise.all([catalog.close(), eager.close()]);
otel.stop();
await meterProvider.shutdown();
const refused = eagerApi.statuses().filter((status) => status === 429).length;
await Promise.all([catalogApi.close(), eagerApi.close()]);

// --- The claims: every documented metric is exported, for the clients by name, and the numbers add up.
const failures: string[] = [];
const has = (prefix: string, label = '') => lines.some((line) => line.startsWith(prefix) && line.includes(label));
for (const name of EXPECTED) if (!has(name)) failures.push(`missing metric ${name}`);
for (const client of ['catalog', 'eager']) {
  if (!has('rate_limited_client_requests_total', `rate_limited_client_name="${client}"`)) failures.push(`no requests for ${client}`);
}
const midRunQueued = midRun
  .filter((line) => line.includes('rate_limited_client_name="catalog"') && line.startsWith('rate_limited_client_queue_size'))
  .map((line) => Number(line.split(' ').at(-1)));
if (!(midRunQueued[0] !== undefined && midRunQueued[0] > 0))
  failures.push(`the catalog's queue was not seen waiting mid-run: ${midRunQueued.join()}`);
const refusalLine = lines.find(
  (line) => line.startsWith('rate_limited_client_server_refusals_total') && line.includes('status_code="429"'),
);
if (refusalLine === undefined || Number(refusalLine.split(' ').at(-1)) !== refused) {
  failures.push(`the API refused ${refused} requests; the metric says: ${refusalLine ?? 'nothing'}`);
}
const rejected = results.filter((result) => result.status === 'rejected').length;
if (rejected > 0) failures.push(`${rejected} requests failed`);

console.log(`\n${EXPECTED.length} documented series checked; the eager client heard ${refused} 429s.`);
console.log(failures.length === 0 ? 'OK' : `FAILED:\n  ${failures.join('\n  ')}`);
process.exitCode = failures.length === 0 ? 0 : 1;
