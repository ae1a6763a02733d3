/**
 * Query points, with a meter of your own: Shopify's GraphQL Admin API. Run it from the repository root:
 * `npx tsx examples/graphql-points.ts`.
 *
 * Shopify bills a GraphQL query in points: before it runs, its requested cost (from the query: a
 * connection costs 2 + `first` × what each node holds) must fit in the app's bucket (1,000 points,
 * restoring 50 a second on a standard plan); once it has run, the bucket gets back the difference to its
 * actual cost, which counts only the nodes really returned. Beyond the bucket, the answer is a 200 with
 * `errors: [{ message: 'Throttled' }]`. The local mock does the same with time running 20 times faster
 * (1,000 points restoring 1,000 a second).
 *
 * No meter for Shopify ships with the client; this file writes one, a plain object implementing the
 * `Meter` interface of `rate-limited-client/meters`: `estimate()` computes the requested cost from the
 * query, as Shopify does, and `usage()` reads `extensions.cost.actualQueryCost` from the answer. The
 * client mirrors Shopify's bucket: a window counting 'points' with a `burst` is a bucket (1,000 points
 * restoring 1,000 a second here, the mock's figures). A catalogue export of 20 queries (25 products each, with up to 10 variants)
 * runs twice, each time against a fresh mock: first with the estimates alone, then settled from the
 * actual costs: the refunds make room for the next queries at once. The run fails (exit code 1) if a
 * query was throttled or failed, came back wrong, if the meter's estimate differs from Shopify's
 * requested cost, or if settling did not make the export faster.
 *
 * Against the real API: `rateLimit: { limit: 100, windowMs: 1_000, burst: 1_000, counts: 'points' }` for
 * a bucket of 1,000 restoring 100 a second (your plan's figures are in `extensions.cost.throttleStatus`:
 * `maximumAvailable` is the burst, `restoreRate` the limit per second).
 */
import { performance } from 'node:perf_hooks';
import { RateLimitedClient } from 'rate-limited-client';
import type { Cost, Meter, UsageReader } from 'rate-limited-client/meters';
import { PRODUCT_COUNT, startGraphQLMock, variantCount } from './support/mock-graphql.js';

const POINTS = 1_000;
const RESTORE_PER_SECOND = 1_000;
/** The server's bucket, mirrored: `RESTORE_PER_SECOND` a second refilled continuously, `POINTS` held. */
const BUCKET = { limit: RESTORE_PER_SECOND, windowMs: 1_000, burst: POINTS, counts: 'points' };
const QUERIES = 20;
const PAGE = 25;
const TOKEN = 'shpat_test';

const QUERY = `query Page($first: Int!, $after: String) {
  products(first: $first, after: $after) {
    edges { cursor node { id title variants(first: 10) { edges { node { id price } } } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/**
 * Shopify's requested cost of a query made of connections: each connection costs 2 + its `first`,
 * times the `first` of every connection around it (its nodes cost 1 each, inside the 2 + first).
 * Variables are read for `first: $name`.
 */
function requestedCost(query: string, variables: Record<string, unknown>): number {
  const multipliers = [1];
  let cost = 0;
  for (const match of query.matchAll(/\(([^)]*)\)\s*\{|\{|\}/g)) {
    if (match[0] === '}') {
      multipliers.pop();
      continue;
    }
    const outer = multipliers.at(-1) ?? 1;
    const first = /(?:^|[\s,])first:\s*(\$?\w+)/.exec(match[1] ?? '')?.[1];
    if (first === undefined) {
      multipliers.push(outer);
      continue;
    }
    const n = Number(first.startsWith('$') ? variables[first.slice(1)] : first);
    cost += (2 + n) * outer;
    multipliers.push(outer * n);
  }
  return cost;
}

/** The meter: requested cost up front, settled to `extensions.cost.actualQueryCost`. */
const shopifyPoints: Meter = {
  estimate(request) {
    const body = JSON.parse(request.body ?? '{}') as { query?: string; variables?: Record<string, unknown> };
    return typeof body.query === 'string' ? { points: requestedCost(body.query, body.variables ?? {}) } : undefined;
  },
  usage(): UsageReader {
    const chunks: Uint8Array[] = [];
    return {
      chunk: (bytes) => void chunks.push(bytes),
      end(): Cost | undefined {
        const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          errors?: unknown;
          extensions?: { cost?: { actualQueryCost?: number | null } };
        };
        const actual = answer.extensions?.cost?.actualQueryCost;
        if (typeof actual === 'number') return { points: actual };
        // Throttled (or refused for its cost) before it ran: Shopify charged nothing.
        return answer.errors === undefined ? undefined : { points: 0 };
      },
    };
  },
};
/** The same meter without `usage`: every query keeps its requested cost for the whole window. */
const estimatesOnly: Meter = { estimate: (request) => shopifyPoints.estimate(request) };

interface Page {
  data?: { products: { edges: Array<{ node: { title: string; variants: { edges: unknown[] } } }> } };
  errors?: Array<{ message: string }>;
  extensions?: { cost: { requestedQueryCost: number; actualQueryCost: number | null } };
}

async function exportCatalogue(meter: Meter, label: string) {
  const api = await startGraphQLMock({ maximumAvailable: POINTS, restoreRate: RESTORE_PER_SECOND });
  const client = new RateLimitedClient({ concurrency: 8, rateLimit: BUCKET, meter });
  client.on('error', (error) => console.error('client error:', error));
  const begin = performance.now();
  // Pages from 20 places in the catalogue: each asks for 25 products of up to 10 variants (327 points).
  const offsets = Array.from({ length: QUERIES }, (_, i) => (i * 17) % (PRODUCT_COUNT - PAGE));
  const pages = await Promise.allSettled(
    offsets.map(async (offset) => {
      const variables = { first: PAGE, ...(offset > 0 ? { after: String(offset - 1) } : {}) };
      const response = await client.fetch(`${api.url}${api.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-shopify-access-token': TOKEN },
        body: JSON.stringify({ query: QUERY, variables }),
      });
      return { offset, variables, page: (await response.json()) as Page };
    }),
  );
  const ms = performance.now() - begin;
  await client.close();
  await api.close();
  console.log(`${label.padEnd(34)} ${QUERIES} queries in ${(ms / 1000).toFixed(1)} s`);
  return { ms, pages, server: api.stats() };
}

console.log(`Shopify GraphQL mock: a bucket of ${POINTS} points restoring ${RESTORE_PER_SECOND} a second; 'Throttled' beyond.`);
console.log(`Client: a bucket of ${POINTS} points restoring ${RESTORE_PER_SECOND} a second (burst), meter written below.\n`);
const before = await exportCatalogue(estimatesOnly, 'estimates only (no usage()):');
const after = await exportCatalogue(shopifyPoints, 'settled from actualQueryCost:');

// --- Checks, from what the server saw and what came back.
const problems: string[] = [];
const check = (ok: boolean, problem: string) => {
  if (!ok) problems.push(problem);
};
for (const run of [before, after]) {
  check(run.server.throttled === 0, `${run.server.throttled} queries were throttled`);
  for (const result of run.pages) {
    if (result.status === 'rejected') {
      problems.push(`a query failed: ${String(result.reason)}`);
      continue;
    }
    const { offset, variables, page } = result.value;
    if (page.errors !== undefined || page.data === undefined) {
      problems.push(`the page at ${offset} came back with errors: ${JSON.stringify(page.errors)}`);
      continue;
    }
    const edges = page.data.products.edges;
    check(edges.length === PAGE && edges[0]?.node.title === `Product ${offset + 1}`, `the page at ${offset} came back wrong`);
    check(
      edges.every((edge, i) => edge.node.variants.edges.length === variantCount(offset + i + 1)),
      `the page at ${offset} has wrong variants`,
    );
    check(
      page.extensions?.cost.requestedQueryCost === requestedCost(QUERY, variables),
      `the meter estimated ${requestedCost(QUERY, variables)} points, Shopify's requested cost is ${page.extensions?.cost.requestedQueryCost}`,
    );
  }
}
check(after.ms < before.ms, 'settling did not make the export faster');

const requested = after.server.requested / QUERIES;
const actual = after.server.actual / QUERIES;
console.log('\nSummary');
console.log(`  per query:   ${requested.toFixed(0)} points requested, ${actual.toFixed(0)} actual (the rest refunded)`);
console.log(`  throttled:   ${before.server.throttled + after.server.throttled}`);
console.log(
  `  settling:    ${(before.ms / 1000).toFixed(1)} s -> ${(after.ms / 1000).toFixed(1)} s for the same export (${(before.ms / after.ms).toFixed(1)}x)`,
);
for (const problem of problems.slice(0, 5)) console.log(`  PROBLEM: ${problem}`);
if (problems.length > 5) console.log(`  ... and ${problems.length - 5} more problems`);
console.log(`\n${problems.length > 0 ? 'FAILED' : 'OK'}`);
process.exitCode = problems.length > 0 ? 1 : 0;
