/**
 * A local Shopify Admin GraphQL API that bills query points as Shopify documents it, for the examples.
 * Real HTTP on 127.0.0.1 and a free port; no network.
 *
 * Sources for each rule:
 * - shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits: "Calls to the GraphQL Admin API are
 *   limited based on calculated query cost"; "Limits are enforced with a leaky bucket: your quota
 *   refills continuously": a bucket of `maximumAvailable` points restoring `restoreRate` a second
 *   (shopify.dev/docs/api/usage/limits: 1,000 points restoring 50 a second on a standard plan; this mock
 *   scales the second down by restoring faster).
 * - Cost calculation (same page): a scalar or an enum costs 0, an object 1, and a connection is "sized by
 *   first and last arguments": 2 plus, for each node it may return, that node's cost. The requested
 *   cost is computed from the query before it runs; the actual cost from what it returned.
 * - "Before the query is executed, the app's bucket must have enough room for the requested cost of the
 *   query. When the query is completed, the bucket is refunded the difference between the requested
 *   cost and the actual cost" (shopify.dev/docs/api/usage/limits, "GraphQL Admin API").
 * - A query over the bucket is not run: 200 with `errors: [{ message: 'Throttled', extensions: { code:
 *   'THROTTLED' } }]` and `extensions.cost` with `actualQueryCost: null` (shopify.dev, "Rate limits":
 *   "All requests that are made after the limit has been exceeded are throttled and an
 *   {errors: [{ message: "Throttled" }]} error is returned"). A query whose requested cost is over the
 *   most a single query may cost (the bucket's size) gets `MAX_COST_EXCEEDED` instead.
 * - Every answer carries `extensions.cost { requestedQueryCost, actualQueryCost, throttleStatus {
 *   maximumAvailable, currentlyAvailable, restoreRate } }`.
 *
 * The store: `PRODUCT_COUNT` products, product n with `variantCount(n)` variants, so a page asked for
 * with `first: 50` costs what 50 products of 10 variants would, and far less once it has run.
 * Answers `products(first, after) { edges { cursor node { id title variants(first) { edges { node {
 * id price } } } } } pageInfo { hasNextPage endCursor } }` and `shop { name }`.
 */
import { performance } from 'node:perf_hooks';
import { readJson, sendJson, startLocalServer, type LocalServer } from './local-server.js';

export interface GraphQLMockOptions {
  /** The bucket's size: the most a single query may cost. @default 1_000 */
  maximumAvailable?: number;
  /** Points restored a second. @default 50 */
  restoreRate?: number;
  /** Time to answer. @default 15 */
  latencyMs?: number;
  /** The only token accepted (`x-shopify-access-token`). @default 'shpat_test' */
  accessToken?: string;
}

export interface GraphQLMockStats {
  answered: number;
  throttled: number;
  /** Sums over answered queries. */
  requested: number;
  actual: number;
  /** The fewest points the bucket held after a query was charged. */
  lowest: number;
}

export interface GraphQLMock extends LocalServer {
  /** The path to POST queries to. */
  readonly path: string;
  stats(): GraphQLMockStats;
}

export const PRODUCT_COUNT = 120;
/** Most products have a couple of variants; every seventh has ten. */
export const variantCount = (n: number): number => (n % 7 === 0 ? 10 : 1 + (n % 3));

interface Field {
  name: string;
  args: Record<string, unknown>;
  children: Field[];
}

/** Parses the first selection set of `query` (operation name and variable definitions skipped). */
function parse(query: string, variables: Record<string, unknown>): Field[] {
  const tokens: string[] = query.match(/\.\.\.|[{}():,!$[\]]|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  let at = tokens.indexOf('{');
  if (at < 0) throw new SyntaxError('Expected a selection set');
  const next = () => tokens[at++] ?? '';
  const value = (): unknown => {
    const token = next();
    if (token === '$') return variables[next()];
    if (token.startsWith('"')) return JSON.parse(token) as unknown;
    const number = Number(token);
    return Number.isNaN(number) ? token : number;
  };
  const selection = (): Field[] => {
    if (next() !== '{') throw new SyntaxError('Expected {');
    const fields: Field[] = [];
    while (tokens[at] !== '}') {
      if (at >= tokens.length) throw new SyntaxError('Unclosed {');
      const field: Field = { name: next(), args: {}, children: [] };
      if (tokens[at] === '(') {
        next();
        while (tokens[at] !== ')') {
          const key = next();
          if (next() !== ':') throw new SyntaxError(`Expected : after ${key}`);
          field.args[key] = value();
          if (tokens[at] === ',') next();
        }
        next();
      }
      if (tokens[at] === '{') field.children = selection();
      fields.push(field);
      if (tokens[at] === ',') next();
    }
    next();
    return fields;
  };
  return selection();
}

/** Requested cost: an object 1, a scalar 0, a connection 2 + first × (one node's cost). */
function requestedCost(fields: readonly Field[]): number {
  let cost = 0;
  for (const field of fields) {
    if (field.children.length === 0) continue;
    if (typeof field.args.first === 'number') cost += 2 + field.args.first * nodeCost(field, requestedCost);
    else cost += 1 + requestedCost(field.children);
  }
  return cost;
}

/** One node's cost in a connection's selection (`edges { node { … } }` or `nodes { … }`). */
function nodeCost(connection: Field, of: (fields: readonly Field[]) => number): number {
  const edges = connection.children.find((child) => child.name === 'edges');
  const node = edges?.children.find((child) => child.name === 'node') ?? connection.children.find((child) => child.name === 'nodes');
  return node === undefined ? 0 : 1 + of(node.children);
}

interface Product {
  id: string;
  title: string;
  variants: Array<{ id: string; price: string }>;
}

const products: Product[] = Array.from({ length: PRODUCT_COUNT }, (_, i) => ({
  id: `gid://shopify/Product/${1000 + i}`,
  title: `Product ${i + 1}`,
  variants: Array.from({ length: variantCount(i + 1) }, (_, v) => ({
    id: `gid://shopify/ProductVariant/${(1000 + i) * 100 + v}`,
    price: (10 + ((i * 7 + v * 3) % 90)).toFixed(2),
  })),
}));

/** Resolves a connection over `items`: the page, and the actual cost (2 + one per node returned + what the nodes hold). */
function connection<T>(field: Field, items: readonly T[], resolve: (item: T, node: Field) => { data: unknown; cost: number }) {
  const first = Number(field.args.first);
  const after = typeof field.args.after === 'string' ? Number(field.args.after) : -1;
  const page = items.slice(after + 1, after + 1 + first);
  const edgesField = field.children.find((child) => child.name === 'edges');
  const nodeField = edgesField?.children.find((child) => child.name === 'node');
  let cost = 2;
  const edges = page.map((item, i) => {
    const resolved = nodeField === undefined ? { data: undefined, cost: 0 } : resolve(item, nodeField);
    cost += 1 + resolved.cost;
    return { cursor: String(after + 1 + i), node: resolved.data };
  });
  const last = after + page.length;
  return { data: { edges, pageInfo: { hasNextPage: last < items.length - 1, endCursor: page.length > 0 ? String(last) : null } }, cost };
}

/** The fields asked for of `object` (scalars, and the connections resolved by `connections`). */
function pick(object: Record<string, unknown>, fields: readonly Field[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((field) => field.children.length === 0).map((field) => [field.name, object[field.name] ?? null]));
}

function resolveProduct(product: Product, node: Field) {
  const data = pick({ ...product }, node.children);
  let cost = 0;
  const variants = node.children.find((child) => child.name === 'variants');
  if (variants !== undefined) {
    const page = connection(variants, product.variants, (variant, variantNode) => ({ data: pick(variant, variantNode.children), cost: 0 }));
    data.variants = page.data;
    cost += page.cost;
  }
  return { data, cost };
}

/** `POST /admin/api/2025-01/graphql.json` under Shopify's calculated query cost (see the file's comment). */
export async function startGraphQLMock(options: GraphQLMockOptions = {}): Promise<GraphQLMock> {
  const { maximumAvailable = 1_000, restoreRate = 50, latencyMs = 15, accessToken = 'shpat_test' } = options;
  const path = '/admin/api/2025-01/graphql.json';
  let level = maximumAvailable;
  let at = performance.now();
  const available = () => {
    const now = performance.now();
    level = Math.min(maximumAvailable, level + ((now - at) / 1000) * restoreRate);
    at = now;
    return level;
  };
  const stats: GraphQLMockStats = { answered: 0, throttled: 0, requested: 0, actual: 0, lowest: maximumAvailable };
  const cost = (requestedQueryCost: number, actualQueryCost: number | null) => ({
    requestedQueryCost,
    actualQueryCost,
    throttleStatus: { maximumAvailable, currentlyAvailable: Math.floor(available()), restoreRate },
  });

  const server = await startLocalServer(async (req, res) => {
    const body = (await readJson(req)) as { query?: unknown; variables?: Record<string, unknown> } | undefined;
    if (req.headers['x-shopify-access-token'] !== accessToken) {
      sendJson(res, 401, {}, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
      return;
    }
    if (req.method !== 'POST' || req.url !== path || typeof body?.query !== 'string') {
      sendJson(res, 404, {}, { errors: 'Not Found' });
      return;
    }
    let fields: Field[];
    try {
      fields = parse(body.query, body.variables ?? {});
    } catch (error) {
      sendJson(res, 200, {}, { errors: [{ message: (error as Error).message, extensions: { code: 'PARSE_ERROR' } }] });
      return;
    }
    const requested = requestedCost(fields);
    if (requested > maximumAvailable) {
      const message = `Query cost is ${requested}, which exceeds the single query max cost limit (${maximumAvailable}).`;
      sendJson(
        res,
        200,
        {},
        { errors: [{ message, extensions: { code: 'MAX_COST_EXCEEDED', cost: requested, maxCost: maximumAvailable } }] },
      );
      return;
    }
    if (available() < requested) {
      stats.throttled++;
      const errors = [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/limits' } }];
      sendJson(res, 200, {}, { errors, extensions: { cost: cost(requested, null) } });
      return;
    }
    level -= requested;
    stats.lowest = Math.min(stats.lowest, level);

    const data: Record<string, unknown> = {};
    let actual = 0;
    for (const field of fields) {
      if (field.name === 'shop') {
        data.shop = pick({ name: 'Mock Outfitters', currencyCode: 'EUR' }, field.children);
        actual += 1;
      } else if (field.name === 'products') {
        const page = connection(field, products, resolveProduct);
        data.products = page.data;
        actual += page.cost;
      } else data[field.name] = null;
    }
    await new Promise((resolve) => setTimeout(resolve, latencyMs));
    // "the bucket is refunded the difference between the requested cost and the actual cost"
    available();
    level += requested - actual;
    stats.answered++;
    stats.requested += requested;
    stats.actual += actual;
    sendJson(res, 200, {}, { data, extensions: { cost: cost(requested, actual) } });
  });

  return { ...server, path, stats: () => ({ ...stats }) };
}
