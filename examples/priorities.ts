/**
 * Interactive requests overtaking a background crawl: `npx tsx examples/priorities.ts`.
 *
 * A crawler feeds 30 page requests at priority 10 into a bounded queue, waiting for room before each
 * one. Mid-window, while the quota is used up and crawl requests wait for it, a user asks for 5
 * things at priority 0: they reach the server before every crawl request that was waiting ahead of
 * them. Proved from the order in which the local API saw the requests. Exits with code 1 if a waiting
 * crawl request got in first, if the API answered 429 or saw more than its quota in any window, or
 * if the queue held more than its bound.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimitedClient } from 'rate-limited-client';
import { startMockApi } from './support/mock-api.js';

const LIMIT = 10;
const WINDOW_MS = 500;
const PAGES = 30;
const INTERACTIVE = 5;
const CRAWL_BACKLOG = 10;
// Room for the interactive requests on top of the crawl's backlog, so that the queue's bound is the
// most that ever waits. (With 'block', an interactive request finding the queue full would still go
// first: it takes the place of the worst queued request, which then waits outside the queue.)
const QUEUE_SIZE = CRAWL_BACKLOG + INTERACTIVE;

const api = await startMockApi({ limit: LIMIT, windowMs: WINDOW_MS });
const client = new RateLimitedClient({
  baseUrl: api.url,
  concurrency: 4,
  rateLimit: { limit: LIMIT, windowMs: WINDOW_MS },
  queue: { maxSize: QUEUE_SIZE, overflow: 'block' },
});

const failures: unknown[] = [];
let mostWaiting = 0;

/** Resolves with how long the request took from submission to its answer, in ms. */
function request(path: string, priority: number): Promise<number> {
  const submittedAt = performance.now();
  const answered = client.get(path, { priority }).then(
    async (res) => {
      await res.json();
      return performance.now() - submittedAt;
    },
    (error: unknown) => {
      failures.push(error);
      return NaN;
    },
  );
  // The queue only grows on a submission, so sampling here sees its largest size.
  const { queued, blocked } = client.stats();
  mostWaiting = Math.max(mostWaiting, queued + blocked);
  return answered;
}

// The crawler's backpressure: it adds a page only when fewer than CRAWL_BACKLOG requests wait.
let crawlSubmitted = 0;
async function crawl(): Promise<number[]> {
  const pages: Array<Promise<number>> = [];
  while (crawlSubmitted < PAGES) {
    await client.onSizeLessThan(CRAWL_BACKLOG);
    pages.push(request(`/crawl/${crawlSubmitted++}`, 10));
  }
  return Promise.all(pages);
}

const started = performance.now();
const crawling = crawl();
await sleep(WINDOW_MS / 2); // the user shows up mid-window, while the crawl waits for quota

// Equal priorities run first-in first-out, so the crawl requests still waiting are the last ones submitted.
const { queued, inFlight } = client.stats();
const firstWaitingCrawl = crawlSubmitted - queued;
const clickedAt = performance.now();
const interactiveTimes = await Promise.all(Array.from({ length: INTERACTIVE }, (_, i) => request(`/interactive/${i}`, 0)));
const crawlTimes = await crawling;
const elapsed = performance.now() - started;
await client.close();
await api.close();

// --- What the server saw.
const paths = api.paths();
const lastInteractive = paths.findLastIndex((path) => path.startsWith('/interactive/'));
const overtaking = paths
  .slice(0, lastInteractive)
  .filter((path) => path.startsWith('/crawl/') && Number(path.split('/')[2]) >= firstWaitingCrawl);
const arrivedBeforeClick = api.arrivals().filter((at) => at <= clickedAt).length;
const order = paths.map((path) => (path.startsWith('/crawl/') ? 'c' : 'I')).join('');
const refused = api.statuses().filter((status) => status === 429).length;
const busiest = api.maxInAnyWindow(WINDOW_MS);

console.log(`API and client: ${LIMIT} requests per ${WINDOW_MS} ms. Queue: ${QUEUE_SIZE} places, crawler keeps ${CRAWL_BACKLOG} waiting.`);
console.log(
  `At ${Math.round(clickedAt - started)} ms: ${INTERACTIVE} interactive requests (priority 0); ${queued} crawl requests (priority 10) waiting, ${inFlight} in flight.\n`,
);
console.log('Arrival order at the server (c crawl, I interactive, | when the interactive requests were submitted):');
console.log(`  ${order.slice(0, arrivedBeforeClick)}|${order.slice(arrivedBeforeClick)}\n`);
console.log(`  interactive answered in at most ${Math.round(Math.max(...interactiveTimes))} ms (the next free slot of the quota)`);
console.log(`  crawl: ${crawlTimes.length} pages in ${(elapsed / 1000).toFixed(1)} s`);
console.log(`  waiting crawl requests that got in before the last interactive one: ${overtaking.length}`);
console.log(`  most requests waiting at once: ${mostWaiting} (bound ${QUEUE_SIZE})`);
console.log(`  429s: ${refused}; busiest ${WINDOW_MS} ms window: ${busiest}/${LIMIT}; failed requests: ${failures.length}`);

const ok = overtaking.length === 0 && mostWaiting <= QUEUE_SIZE && refused === 0 && busiest <= LIMIT && failures.length === 0;
for (const error of failures) console.error(error);
console.log(ok ? '\nOK' : '\nFAILED');
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = ok ? 0 : 1;
