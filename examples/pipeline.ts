/**
 * A fetch → parse → store pipeline, the asyncio producer/consumer classic done with this library:
 * `npx tsx examples/pipeline.ts`.
 *
 * Each stage is a client used as a worker pool with a bounded queue: `schedule()` hands it work,
 * `onSizeLessThan(n)` waits for room (asyncio's `await queue.put()`), `onIdle()` is `queue.join()`.
 * A worker hands its result to the next stage and waits there for room, so the slow store holds up
 * the parser, which holds up the fetchers, which hold up the producer: memory stays bounded however
 * many pages there are. Only the fetchers touch the network, through one rate-limited client. A
 * dashboard of progress shows `drop-oldest`: when it falls behind, only the latest snapshot matters.
 *
 * Exits with code 1 if a page is lost or stored twice, a stage held more than its bound, or the local
 * API answered 429 or saw more than its quota in any window.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueFullError, RateLimitedClient } from 'rate-limited-client';
import { startMockApi } from './support/mock-api.js';

const PAGES = 50;
const LIMIT = 25;
const WINDOW_MS = 500;
const STAGE_BOUND = 8;
const WRITE_MS = 60;
const DASHBOARD_MS = 100;

const api = await startMockApi({ limit: LIMIT, windowMs: WINDOW_MS });
const http = new RateLimitedClient({ baseUrl: api.url, concurrency: 4, rateLimit: { limit: LIMIT, windowMs: WINDOW_MS } });

interface Stage {
  name: string;
  workers: number;
  client: RateLimitedClient;
  mostWaiting: number;
  /** How often a caller of put() found the stage full and had to wait. */
  timesFull: number;
}

function stage(name: string, workers: number): Stage {
  const client = new RateLimitedClient({ concurrency: workers, queue: { maxSize: STAGE_BOUND, overflow: 'block' } });
  return { name, workers, client, mostWaiting: 0, timesFull: 0 };
}

// The stages keep no rate limit of their own: only `http` talks to the API. Fetching is a stage of
// its own rather than `http` itself because a request leaves `http` with its response, so nothing
// there could wait for room in the parser; a fetch worker can.
const fetchers = stage('fetch', 4);
const parsers = stage('parse', 1); // CPU work on this one thread: more workers would not parse faster
const writers = stage('store', 2); // the database takes two connections
const stages = [fetchers, parsers, writers];

const failures: unknown[] = [];
const database = new Map<number, string>();
const writesPerPage = new Map<number, number>();

function waiting(stage: Stage): number {
  const { queued, blocked } = stage.client.stats();
  return queued + blocked;
}

/**
 * asyncio's `await queue.put()`: waits until the stage has room, then hands it the work. Each free
 * place lets in one waiting caller (here, up to four fetchers), first come first served, so the work
 * must be handed over right after the `await`, in the same turn.
 */
async function put(stage: Stage, work: () => Promise<void>): Promise<void> {
  if (waiting(stage) >= STAGE_BOUND) stage.timesFull++;
  await stage.client.onSizeLessThan(STAGE_BOUND);
  stage.client.schedule(work).catch((error: unknown) => failures.push(error));
  // A stage only grows here, so this sees its largest size.
  stage.mostWaiting = Math.max(stage.mostWaiting, waiting(stage));
}

async function fetchPage(page: number): Promise<void> {
  const body = await (await http.get(`/pages/${page}`)).text();
  await put(parsers, () => parsePage(page, body));
}

async function parsePage(page: number, body: string): Promise<void> {
  const { id } = JSON.parse(body) as { id: string };
  if (Number(id) !== page) throw new Error(`Asked for page ${page}, got page ${id}`);
  // Stands in for real parsing: a couple of milliseconds of CPU.
  let digest = body;
  for (let i = 0; i < 500; i++) digest = createHash('sha256').update(digest).digest('hex');
  await put(writers, () => storePage(page, digest));
}

async function storePage(page: number, digest: string): Promise<void> {
  await sleep(WRITE_MS); // a slow database write
  database.set(page, digest);
  writesPerPage.set(page, (writesPerPage.get(page) ?? 0) + 1);
  showProgress(database.size);
}

// A slow dashboard: when it falls behind, an old snapshot is not worth showing, so the queue keeps one.
const dashboard = new RateLimitedClient({ concurrency: 1, queue: { maxSize: 1, overflow: 'drop-oldest' } });
let lastShown = 0;
function showProgress(stored: number): void {
  dashboard
    .schedule(async () => {
      await sleep(DASHBOARD_MS);
      lastShown = stored;
    })
    .catch((error: unknown) => {
      if (!(error instanceof QueueFullError && error.dropped)) failures.push(error);
    });
}

// The producer.
const started = performance.now();
for (let page = 0; page < PAGES; page++) await put(fetchers, () => fetchPage(page));

// asyncio's `await queue.join()`, upstream first: once the fetchers are idle, every page is in the
// parser's hands, and so on down.
for (const stage of stages) await stage.client.onIdle();
const elapsed = performance.now() - started;
// Shut down in the same order: a stage closed before the one that feeds it would refuse its work.
for (const stage of stages) await stage.client.close();
await dashboard.close();
await http.close();
await api.close();

// --- Report.
const lost = Array.from({ length: PAGES }, (_, page) => page).filter((page) => !database.has(page));
const storedTwice = [...writesPerPage].filter(([, writes]) => writes > 1).map(([page]) => page);
const refused = api.statuses().filter((status) => status === 429).length;
const busiest = api.maxInAnyWindow(WINDOW_MS);
const overBound = stages.filter((stage) => stage.mostWaiting > STAGE_BOUND);

console.log(`${PAGES} pages through fetch → parse → store in ${(elapsed / 1000).toFixed(1)} s; API quota ${LIMIT} per ${WINDOW_MS} ms.\n`);
console.log('  stage   workers  most waiting  times full  completed  failed');
for (const { name, workers, client, mostWaiting, timesFull } of stages) {
  const { completed, failed } = client.stats();
  console.log(
    `  ${name.padEnd(6)}  ${String(workers).padStart(7)}  ${`${mostWaiting}/${STAGE_BOUND}`.padStart(12)}  ${String(timesFull).padStart(10)}  ${String(completed).padStart(9)}  ${String(failed).padStart(6)}`,
  );
}
const { completed: shown, dropped } = dashboard.stats();
console.log(`\n  dashboard: ${shown} snapshots shown, ${dropped} stale ones dropped (drop-oldest); last shown ${lastShown}/${PAGES}`);
console.log(`  stored: ${database.size}/${PAGES}; lost: ${lost.length}; stored twice: ${storedTwice.length}`);
console.log(`  API: ${refused} answered 429; busiest ${WINDOW_MS} ms window ${busiest}/${LIMIT}`);

for (const error of failures) console.error(error);
const ok =
  lost.length === 0 &&
  storedTwice.length === 0 &&
  overBound.length === 0 &&
  lastShown === PAGES &&
  refused === 0 &&
  busiest <= LIMIT &&
  failures.length === 0;
console.log(ok ? '\nOK' : '\nFAILED');
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = ok ? 0 : 1;
