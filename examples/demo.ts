/**
 * `npm run demo`: 300 requests of two priorities against a local API that allows 50 requests per
 * second and answers 429 beyond that. The client keeps every request inside the quota, so the server
 * never refuses one, and the interactive requests overtake the background crawl queued before them.
 * Everything runs in this process on 127.0.0.1; nothing to configure.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimitedClient } from '../src/index.js';
import { startMockApi } from './support/mock-api.js';

const LIMIT = 50;
const WINDOW_MS = 1_000;
const BACKGROUND = 240;
const INTERACTIVE = 60;
const INTERACTIVE_AFTER_MS = 500;

type Kind = 'background' | 'interactive';
interface Outcome {
  kind: Kind;
  path: string;
  submittedAt: number;
  status: number;
}

const t0 = performance.now();
const api = await startMockApi({ limit: LIMIT, windowMs: WINDOW_MS });
// The client's window is exactly the server's, with no safety margin: a request counts from when its
// response arrives, the latest moment the server could have counted it, so network delay can not
// bring two requests closer together than the window allows.
const client = new RateLimitedClient({
  baseUrl: api.url,
  concurrency: 8,
  rateLimit: { limit: LIMIT, windowMs: WINDOW_MS },
});
client.on('error', (error) => console.error('client error:', error));

console.log(`Mock API at ${api.url}: ${LIMIT} requests per ${WINDOW_MS} ms, counted on arrival; 429 beyond that.`);
console.log(`Client: concurrency 8, rateLimit ${LIMIT} per ${WINDOW_MS} ms (the same quota, no margin).`);
console.log(
  `Sending ${BACKGROUND} background requests (priority 10), then ${INTERACTIVE} interactive (priority 0) after ${INTERACTIVE_AFTER_MS} ms.\n`,
);

const outcomes: Outcome[] = [];
let done = 0;
let rejected = 0;
let seen429 = 0;

function send(kind: Kind, index: number, priority: number): Promise<void> {
  const path = `/${kind}/${index}`;
  const submittedAt = performance.now();
  return client
    .get(path, { priority, throwHttpErrors: false })
    .then(
      ({ status }) => {
        if (status === 429) seen429++;
        outcomes.push({ kind, path, submittedAt, status });
      },
      (error: unknown) => {
        rejected++;
        console.error(`\n${kind} #${index} rejected:`, error);
      },
    )
    .finally(() => done++);
}

const total = BACKGROUND + INTERACTIVE;
const tty = process.stdout.isTTY;
function progress(): void {
  const stats = client.stats();
  const window = stats.windows[0];
  const usage = window === undefined ? '-' : `${window.used}/${window.limit}`;
  const line =
    `${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s  done ${String(done).padStart(3)}/${total}` +
    `  queued ${String(stats.queued).padStart(3)}  inFlight ${stats.inFlight}  window ${usage.padStart(5)}  429s ${seen429}`;
  // On a terminal rewrite one line; in a pipe or a log, plain lines read better.
  if (tty) process.stdout.write(`\r${line}`);
  else console.log(line);
}
const ticker = setInterval(progress, 500);

const pending: Array<Promise<void>> = [];
for (let i = 0; i < BACKGROUND; i++) pending.push(send('background', i, 10));
await sleep(INTERACTIVE_AFTER_MS);
const interactiveAt = performance.now();
for (let i = 0; i < INTERACTIVE; i++) pending.push(send('interactive', i, 0));
await Promise.all(pending);
await client.onIdle();
clearInterval(ticker);
progress();
if (tty) process.stdout.write('\n');

// --- Summary, computed from what the server saw and what the tasks recorded.
const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
const arrivals = api.arrivals();
const statuses = api.statuses();
const served429 = statuses.filter((status) => status === 429).length;
// Sustained rate: how long, on average, the server saw between a request and the LIMIT-th after it.
// (Total over elapsed time would flatter it: the first window is a burst of LIMIT at once.)
const gaps = arrivals.slice(LIMIT).map((at, i) => at - (arrivals[i] ?? at));
const sustained = gaps.length > 0 ? (LIMIT * 1000) / mean(gaps) : NaN;
const busiest = api.maxInAnyWindow(WINDOW_MS);
// When the server saw each request (client and server share this process's clock).
const arrivalOf = new Map(api.paths().map((path, i) => [path, arrivals[i] ?? NaN]));
const arrivedAt = (o: Outcome): number => arrivalOf.get(o.path) ?? NaN;

const wait = (kind: Kind): number => mean(outcomes.filter((o) => o.kind === kind).map((o) => arrivedAt(o) - o.submittedAt));
const interactive = outcomes.filter((o) => o.kind === 'interactive');
// Background requests still waiting when the interactive ones were submitted.
const overtaken = outcomes.filter((o) => o.kind === 'background' && arrivedAt(o) > interactiveAt);
const lastInteractive = Math.max(...interactive.map(arrivedAt));
const passedBy = overtaken.filter((o) => arrivedAt(o) < lastInteractive).length;

console.log('\nSummary');
console.log(`  requests sent:       ${arrivals.length} (${outcomes.length} completed, ${rejected} rejected)`);
console.log(`  429s received:       ${served429}`);
console.log(`  sustained rate:      ${sustained.toFixed(1)} req/s of a ${((LIMIT / WINDOW_MS) * 1000).toFixed(0)} req/s quota`);
console.log(`  busiest ${WINDOW_MS} ms window: ${busiest} arrivals (limit ${LIMIT})`);
console.log(`  average wait:        interactive ${wait('interactive').toFixed(0)} ms, background ${wait('background').toFixed(0)} ms`);
console.log(
  passedBy === 0
    ? `  priority:            all ${interactive.length} interactive requests reached the server before any of the ${overtaken.length} background requests still queued when they were submitted`
    : `  priority:            ${passedBy} of the ${overtaken.length} background requests queued before the interactive ones reached the server before the last interactive one`,
);

await client.close();
await api.close();
const failed = served429 > 0 || rejected > 0 || seen429 > 0;
console.log(`\n${failed ? 'FAILED' : 'OK'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = failed ? 1 : 0;
