/**
 * `npx tsx examples/monitoring.ts`: a monitoring loop that prints, every second, each client's queue
 * depth, requests in flight and how much of each window is used, plus how long tasks waited in the
 * queue. It learns about clients through `node:diagnostics_channel`, the way an APM agent or an
 * OpenTelemetry instrumentation would: `watchClients()` is never handed the client, and the code that
 * makes the client knows nothing about it.
 *
 * With OpenTelemetry, `instrument()` from `rate-limited-client/otel` does all of this and more (see
 * examples/observability.ts and docs/opentelemetry.md). This example stays for what it shows: the raw
 * channels, with no dependency, for an agent of your own; and how such an agent lets a client go
 * (`client:close`), so that watching clients never keeps one alive.
 *
 * The workload: 150 requests to a local API that allows 40 per second, so the queue fills at once
 * and drains over about 3 seconds. A growing queue depth is the signal to alert on: work arrives
 * faster than the quota lets it out.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { type ClientCreateMessage, DIAGNOSTICS_CHANNELS, RateLimitedClient, type TaskMessage } from 'rate-limited-client';
import { startMockApi } from './support/mock-api.js';

interface Watched {
  name: string;
  /** Queue waits (ms) of tasks started since the last report. */
  waits: number[];
  ended: number;
  failed: number;
}

/** What an agent would do at load: subscribe by name, then report on whatever clients show up. */
function watchClients(intervalMs: number): { stop: () => void; totals: () => { enqueued: number; ended: number } } {
  const clients = new Map<RateLimitedClient, Watched>();
  let enqueued = 0;
  let ended = 0;

  const onCreate = (message: unknown) => {
    const { client, name } = message as ClientCreateMessage;
    clients.set(client, { name: name ?? `client #${clients.size + 1}`, waits: [], ended: 0, failed: 0 });
  };
  // A closed client gets its last line, then is let go: a map of every client ever made would leak.
  const onClose = (message: unknown) => {
    const { client } = message as ClientCreateMessage;
    const watched = clients.get(client);
    if (watched !== undefined) reportOne(client, watched);
    clients.delete(client);
  };
  const onEnqueue = () => enqueued++;
  const onStart = (message: unknown) => {
    const task = message as TaskMessage;
    clients.get(task.client)?.waits.push((task.startedAt ?? NaN) - task.enqueuedAt);
  };
  const onEnd = (message: unknown) => {
    const task = message as TaskMessage;
    ended++;
    const watched = clients.get(task.client);
    if (watched === undefined) return;
    watched.ended++;
    if (task.outcome !== 'completed') watched.failed++;
  };
  const subscriptions: Array<[string, (message: unknown) => void]> = [
    [DIAGNOSTICS_CHANNELS.clientCreate, onCreate],
    [DIAGNOSTICS_CHANNELS.clientClose, onClose],
    [DIAGNOSTICS_CHANNELS.taskEnqueue, onEnqueue],
    [DIAGNOSTICS_CHANNELS.taskStart, onStart],
    [DIAGNOSTICS_CHANNELS.taskEnd, onEnd],
  ];
  for (const [name, listener] of subscriptions) diagnosticsChannel.subscribe(name, listener);

  const t0 = performance.now();
  const report = () => {
    for (const [client, watched] of clients) reportOne(client, watched);
  };
  function reportOne(client: RateLimitedClient, watched: Watched): void {
    const stats = client.stats();
    const windows = stats.windows.map((w) => `${w.used}/${w.limit} per ${w.windowMs} ms`).join(', ') || 'none';
    const waits = watched.waits.sort((a, b) => a - b);
    const p50 = waits.length === 0 ? '-' : `${Math.round(waits[Math.floor(waits.length / 2)] ?? 0)} ms`;
    console.log(
      `${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s  ${watched.name}: queued ${String(stats.queued).padStart(3)}` +
        `  inFlight ${stats.inFlight}  window ${windows}  started ${String(waits.length).padStart(3)} (median wait ${p50})` +
        `  done ${watched.ended}, failed ${watched.failed}`,
    );
    watched.waits = [];
  }
  // unref: a monitoring loop must never be what keeps a process alive.
  const timer = setInterval(report, intervalMs).unref();
  return {
    stop: () => {
      clearInterval(timer);
      report();
      for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
    },
    totals: () => ({ enqueued, ended }),
  };
}

// --- The application: it creates a client and uses it, with no monitoring code of its own.
const monitor = watchClients(1_000);
const api = await startMockApi({ limit: 40, windowMs: 1_000 });
const client = new RateLimitedClient({ name: 'catalog', baseUrl: api.url, concurrency: 5, rateLimit: { limit: 40, windowMs: 1_000 } });
const TOTAL = 150;
const results = await Promise.allSettled(Array.from({ length: TOTAL }, (_, i) => client.get(`/items/${i}`)));
await client.close();
monitor.stop();
await api.close();

const refused = api.statuses().filter((status) => status !== 200).length;
const rejected = results.filter((result) => result.status === 'rejected').length;
const { enqueued, ended } = monitor.totals();
console.log(
  `\n${TOTAL} requests: ${rejected} rejected, ${refused} refused by the API; the monitor saw ${enqueued} tasks queued and ${ended} ended.`,
);
// The claim: every request ran within the quota, and the monitor saw each one from queue to end.
const ok = rejected === 0 && refused === 0 && enqueued === TOTAL && ended === TOTAL;
console.log(ok ? 'OK' : 'FAILED');
process.exitCode = ok ? 0 : 1;
