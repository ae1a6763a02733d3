/**
 * Many tenants in one client: a Shopify app calling three shops. Run it from the repository root:
 * `npx tsx examples/shopify-app.ts`.
 *
 * Each shop the app is installed on has a REST Admin API bucket of its own: 40 requests, leaking 2 a
 * second on the standard plans (shopify.dev/docs/api/usage/rate-limits; Shopify Plus: 400 and 20 a
 * second); over it, Shopify answers 429. Shop A starts a catalogue sync, a backlog of 100 product
 * pages; a moment later shops B and C ask for 5 pages each (a merchant opened the app). One client
 * serves all three: each request carries its shop as its `key`; `perKey` gives every shop a bucket
 * like Shopify's and 4 requests in flight; the client's own `concurrency` is the app's ceiling over all
 * shops. A shop whose bucket is empty parks instead of holding the queue, and shops take turns, so A's
 * backlog holds back nothing of B's or C's: theirs are done within one leak interval (half a second)
 * of being queued, while A's go on at 2 a second.
 *
 * For contrast the run computes, from its own timings, how long B would have waited in plain arrival
 * order behind A's backlog (one queue for the app, no limits per shop): until A's last page had
 * started. (`fairness: 'fifo'` on this client would not show that: it keeps arrival order among the
 * shops that can start, and a shop whose own bucket is empty never holds back another's pages.)
 *
 * The local mock (examples/support/mock-shopify.ts) keeps Shopify's bucket per shop, counts requests
 * as they arrive and sends `X-Shopify-Shop-Api-Call-Limit` on every answer, with time running `SPEED`
 * times faster: its buckets leak 10 a second, and the client's per-shop bucket is scaled the same way.
 * Times are printed in real milliseconds and, in brackets, in Shopify's seconds. One effect of the
 * scaling: the client reads `used/40` as Shopify's own bucket, leaking 2 a real second, not the mock's
 * 10; when A's bucket first fills, the header holds A for about half a second (one leak at Shopify's
 * pace) until a fresher answer shows room, then A catches up. Against Shopify the two agree.
 *
 * The run fails (exit code 1) on any 429 or failed request, if a page came back wrong, if the client's
 * counts per shop do not match the server's, or if B's or C's pages were not all done within one leak
 * interval of being queued.
 *
 * Against the real API, drop SPEED and use each shop's own host and token:
 *
 *   const shopify = new RateLimitedClient({
 *     concurrency: 32, // the app's own ceiling, over every shop
 *     perKey: { rateLimit: { limit: 2, windowMs: 1_000, burst: 40 }, concurrency: 4 },
 *     // plans that differ: perKey: (shop) => (plus.has(shop) ? plusLimits : standardLimits),
 *     // or client.setKeyLimits(shop, { rateLimit: { limit: 20, windowMs: 1_000, burst: 400 } }) on an upgrade
 *   });
 *   await shopify.get(`https://${shop}.myshopify.com/admin/api/2025-01/products.json`, {
 *     key: shop,
 *     query: { limit: 50, since_id: lastId },
 *     headers: { 'x-shopify-access-token': tokenFor(shop) },
 *   });
 */
import { performance } from 'node:perf_hooks';
import { RateLimitedClient, type KeyStats } from 'rate-limited-client';
import { API_VERSION, startShopifyMock, tokenOf } from './support/mock-shopify.js';

/** The mock's time runs this many times faster than Shopify's. */
const SPEED = 5;
const BUCKET = 40;
const LEAK_PER_SECOND = 2;
/** Real milliseconds for one request to leak out of a bucket: how long a full bucket takes to make room. */
const LEAK_INTERVAL_MS = 1_000 / (LEAK_PER_SECOND * SPEED);
const PAGE = 50;
const [A, B, C] = ['alpha-outfitters', 'bravo-bikes', 'charlie-candles'] as const;
/** Product pages each shop asks for, and when (real ms after the start). */
const PLAN = [
  { shop: A, pages: 100, at: 0 },
  { shop: B, pages: 5, at: 300 },
  { shop: C, pages: 5, at: 310 },
];
const SHOPS = PLAN.map((plan) => plan.shop);

const shopify = await startShopifyMock({ shops: SHOPS, speed: SPEED, bucketSize: BUCKET, leakPerSecond: LEAK_PER_SECOND, latencyMs: 10 });
const client = new RateLimitedClient({
  concurrency: 8,
  perKey: { rateLimit: { limit: LEAK_PER_SECOND * SPEED, windowMs: 1_000, burst: BUCKET }, concurrency: 4 },
});
client.on('error', (error) => console.error('client error:', error));

const t0 = performance.now();
const since = (t: number) => t - t0;
const at = (ms: number) => `${ms.toFixed(0).padStart(5)} ms (${((ms * SPEED) / 1_000).toFixed(2).padStart(5)} s)`;

interface Page {
  shop: string;
  done: number;
  problem?: string;
}

async function productPage(shop: string, index: number): Promise<Page> {
  const sinceId = index * PAGE;
  try {
    const response = await client.get(`${shopify.shopUrl(shop)}/admin/api/${API_VERSION}/products.json`, {
      key: shop,
      query: { limit: PAGE, since_id: sinceId },
      headers: { 'x-shopify-access-token': tokenOf(shop) },
    });
    const { products } = await response.json<{ products: Array<{ id: number; vendor: string }> }>();
    const right = products.length === PAGE && products[0]?.id === sinceId + 1 && products.every((p) => p.vendor === shop);
    return { shop, done: since(performance.now()), ...(right ? {} : { problem: `${shop}'s page after ${sinceId} came back wrong` }) };
  } catch (error) {
    return { shop, done: since(performance.now()), problem: `${shop}'s page after ${sinceId} failed: ${String(error)}` };
  }
}

const queuedAt = new Map<string, number>();
/** Each shop's `client.stats({ key })` just after C queued its pages, while A's backlog waits. */
const midway = new Map<string, KeyStats>();
const pages = (
  await Promise.all(
    PLAN.map(async ({ shop, pages: count, at: delay }) => {
      await new Promise((resolve) => setTimeout(resolve, delay));
      queuedAt.set(shop, since(performance.now()));
      const queued = Array.from({ length: count }, (_, i) => productPage(shop, i));
      if (shop === C) for (const key of SHOPS) midway.set(key, client.stats({ key }));
      return Promise.all(queued);
    }),
  )
).flat();
const final = new Map(SHOPS.map((key) => [key, client.stats({ key })]));
await client.close();
await shopify.close();

// --- What happened, per shop, from both sides.
const bucket = (stats: KeyStats | undefined) => {
  const window = stats?.windows[0];
  return window === undefined ? '-' : `${window.used}/${window.burst ?? window.limit}`;
};
console.log(`Shopify REST mock: per shop a bucket of ${BUCKET} leaking ${LEAK_PER_SECOND} a second; time runs ${SPEED}x faster.`);
console.log(
  `Client: perKey a bucket of ${BUCKET} refilling ${LEAK_PER_SECOND} a second (scaled) and 4 in flight; 8 in flight over all shops.`,
);
console.log(`Times: real ms since the start (Shopify's seconds). One leak interval: ${at(LEAK_INTERVAL_MS)}.\n`);
const problems: string[] = [];
const check = (ok: boolean, problem: string) => {
  if (!ok) problems.push(problem);
};
for (const page of pages) if (page.problem !== undefined) problems.push(page.problem);
const took = new Map<string, number>();
for (const { shop, pages: count } of PLAN) {
  const server = shopify.stats(shop);
  const queued = queuedAt.get(shop) ?? 0;
  const starts = server.arrivals.map((arrival) => since(arrival.at));
  const done = Math.max(...pages.filter((page) => page.shop === shop).map((page) => page.done));
  took.set(shop, done - queued);
  const mid = midway.get(shop);
  const end = final.get(shop);
  console.log(`${shop}: ${count} pages`);
  console.log(`  queued        ${at(queued)}`);
  console.log(`  first start   ${at(Math.min(...starts))}   (as the server saw it)`);
  console.log(`  last start    ${at(Math.max(...starts))}`);
  console.log(`  all done      ${at(done)}   ${at(done - queued)} after queueing`);
  console.log(
    `  server        ${server.answered} answered, ${server.refused} refused (429), bucket at most ${server.highest.toFixed(1)}/${BUCKET}`,
  );
  console.log(
    `  client.stats({ key }) when C queued: ${mid?.queued ?? '-'} queued, ${mid?.inFlight ?? '-'} in flight, ${mid?.completed ?? '-'} completed, bucket ${bucket(mid)}`,
  );
  console.log(
    `  client.stats({ key }) at the end:    ${end?.completed ?? '-'} completed, ${end?.failed ?? '-'} failed, cooldownUntil ${String(end?.cooldownUntil)}`,
  );
  check(server.refused === 0, `${shop}: ${server.refused} requests refused with 429`);
  check(
    server.answered === count && end?.completed === count,
    `${shop}: ${count} pages, the server answered ${server.answered}, the client completed ${end?.completed}`,
  );
}

// In arrival order, B's first page could start only once A's last page had: A's backlog came first.
const queuedB = queuedAt.get(B) ?? 0;
const lastA = Math.max(...shopify.stats(A).arrivals.map((arrival) => since(arrival.at)));
for (const shop of [B, C]) {
  const ms = took.get(shop) ?? Infinity;
  check(
    ms <= LEAK_INTERVAL_MS,
    `${shop}'s pages took ${ms.toFixed(0)} ms after queueing, more than one leak interval (${LEAK_INTERVAL_MS} ms)`,
  );
}
const refused = SHOPS.reduce((sum, shop) => sum + shopify.stats(shop).refused, 0);

console.log('\nSummary');
console.log(`  429s from the server:  ${refused}`);
console.log(`  B's pages done after:  ${at(took.get(B) ?? NaN)} (C's: ${at(took.get(C) ?? NaN)}); target: one leak interval`);
console.log(
  `  in arrival order:      B would have waited ${at(lastA - queuedB)} behind A's backlog (computed: A's last start - B's queueing)`,
);
const pagesA = PLAN[0]?.pages ?? 0;
// A's bucket lets 40 through at once, then 2 a second: no client can sync A faster than this.
const floorA = ((pagesA - BUCKET) / (LEAK_PER_SECOND * SPEED)) * 1_000;
console.log(`  A's ${pagesA} pages:        ${at(took.get(A) ?? NaN)}; its bucket allows no less than ${at(floorA)}`);
for (const problem of problems.slice(0, 5)) console.log(`  PROBLEM: ${problem}`);
if (problems.length > 5) console.log(`  ... and ${problems.length - 5} more problems`);
console.log(`\n${problems.length > 0 ? 'FAILED' : 'OK'}`);
process.exitCode = problems.length > 0 ? 1 : 0;
