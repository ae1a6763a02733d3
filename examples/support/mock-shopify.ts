/**
 * A local Shopify REST Admin API with a leaky bucket per shop, for the examples. Real HTTP on 127.0.0.1
 * and a free port; no network.
 *
 * Sources for each rule (shopify.dev/docs/api/usage/rate-limits and
 * shopify.dev/docs/api/admin-rest/usage/rate-limits):
 * - REST Admin API: "bucket size 40, leak rate 2/second" on the standard plans (Shopify Plus: 400 and
 *   20/second). Each request puts one marble in the bucket whatever it returns; the bucket leaks
 *   continuously. The bucket belongs to one app on one shop: a shop's requests never touch another's.
 * - Every answer carries `X-Shopify-Shop-Api-Call-Limit: <used>/<size>` (here `used` rounded up, so it
 *   never says more is free than is).
 * - A request that finds the bucket full is refused, and puts no marble in it: `429 Too Many Requests`
 *   with `Retry-After: 2.0` and `{"errors":"Exceeded 2 calls per second for api client. Reduce request
 *   rates to resume uninterrupted service."}`.
 * - `X-Shopify-Access-Token` is required: without the shop's token, `401` with `{"errors":"[API]
 *   Invalid API key or access token (unrecognized login or wrong password)"}`.
 *
 * A real shop is its own host, `https://<shop>.myshopify.com`; here every shop shares one port and is
 * told apart by a path prefix, `/shops/<shop>`, so `shopUrl(shop)` stands where the host would. Its
 * token is `tokenOf(shop)`.
 *
 * `speed` runs the mock's time faster: at `speed: 10` the bucket leaks 20 a second and `Retry-After`
 * says 0.2 s, so a run that takes 2 minutes against Shopify takes 12 s. The bucket's size and the
 * header are Shopify's.
 *
 * Answers `GET /shops/<shop>/admin/api/2025-01/products.json?limit=<n>&since_id=<id>`: the shop's
 * products with an id above `since_id`, `limit` of them at most (Shopify's default 50, most 250).
 */
import { performance } from 'node:perf_hooks';
import { sendJson, startLocalServer, type LocalServer } from './local-server.js';

export interface ShopifyMockOptions {
  /** The shops the app is installed on. */
  shops: readonly string[];
  /** How many times faster the mock's time runs than Shopify's. @default 1 */
  speed?: number;
  /** The bucket's size, in requests. @default 40 (Shopify's standard plans) */
  bucketSize?: number;
  /** Requests leaking out of the bucket a (Shopify) second. @default 2 */
  leakPerSecond?: number;
  /** Time to answer an accepted request, in real milliseconds. @default 10 */
  latencyMs?: number;
}

/** One request as a shop's bucket saw it. */
export interface ShopArrival {
  /** `performance.now()` at arrival: when the bucket counted it. */
  at: number;
  status: number;
  /** The bucket's level after this request, as the header said it (`used`). */
  used: number;
}

export interface ShopStats {
  /** Every request for the shop, in arrival order. */
  arrivals: readonly ShopArrival[];
  /** Requests answered 200. */
  answered: number;
  /** Requests refused with 429. */
  refused: number;
  /** The highest level the bucket reached (<= its size, or the mock is broken). */
  highest: number;
}

export interface ShopifyMock extends LocalServer {
  /** The base URL of a shop's Admin API, where `https://<shop>.myshopify.com` would be. */
  shopUrl(shop: string): string;
  /** What each shop's bucket saw. */
  stats(shop: string): ShopStats;
}

export const API_VERSION = '2025-01';
/** Products in each shop's catalogue; product ids run from 1 to this. */
export const PRODUCT_COUNT = 20_000;
export const tokenOf = (shop: string): string => `shpat_${shop.replaceAll('-', '_')}`;

const TOO_MANY = 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.';
const INVALID_TOKEN = '[API] Invalid API key or access token (unrecognized login or wrong password)';
const ROUTE = new RegExp(`^/shops/([a-z0-9-]+)/admin/api/${API_VERSION}/products\\.json$`);

class LeakyBucket {
  /** Marbles in the bucket at `#at` (real ms), 0 <= level <= size. */
  #level = 0;
  #at = performance.now();

  constructor(
    readonly size: number,
    /** Marbles leaking out per real millisecond. */
    readonly perMs: number,
  ) {}

  level(now: number): number {
    this.#level = Math.max(0, this.#level - (now - this.#at) * this.perMs);
    this.#at = Math.max(this.#at, now);
    return this.#level;
  }

  /** Adds one marble if it fits; whether it did. */
  add(now: number): boolean {
    if (this.level(now) + 1 > this.size) return false;
    this.#level += 1;
    return true;
  }
}

export async function startShopifyMock(options: ShopifyMockOptions): Promise<ShopifyMock> {
  const { shops, speed = 1, bucketSize = 40, leakPerSecond = 2, latencyMs = 10 } = options;
  const buckets = new Map(shops.map((shop) => [shop, new LeakyBucket(bucketSize, (leakPerSecond * speed) / 1_000)]));
  const stats = new Map(shops.map((shop): [string, ShopStats] => [shop, { arrivals: [], answered: 0, refused: 0, highest: 0 }]));
  const retryAfter = (2 / speed).toFixed(1);

  const server = await startLocalServer(async (req, res, _inProgress, arrival) => {
    req.resume(); // GETs only; an unread body would stall the keep-alive socket
    const url = new URL(req.url ?? '/', 'http://localhost');
    const shop = ROUTE.exec(url.pathname)?.[1];
    const bucket = shop === undefined ? undefined : buckets.get(shop);
    const seen = shop === undefined ? undefined : stats.get(shop);
    if (req.method !== 'GET' || shop === undefined || bucket === undefined || seen === undefined) {
      sendJson(res, 404, {}, { errors: 'Not Found' });
      return;
    }
    const callLimit = () => ({ 'x-shopify-shop-api-call-limit': `${Math.ceil(bucket.level(performance.now()) - 1e-9)}/${bucketSize}` });
    if (req.headers['x-shopify-access-token'] !== tokenOf(shop)) {
      sendJson(res, 401, callLimit(), { errors: INVALID_TOKEN });
      return;
    }
    // Counted at arrival, the moment the request reached Shopify, not when it is answered.
    const accepted = bucket.add(arrival.at);
    const used = Math.ceil(bucket.level(arrival.at) - 1e-9);
    seen.highest = Math.max(seen.highest, bucket.level(arrival.at));
    (seen.arrivals as ShopArrival[]).push({ at: arrival.at, status: accepted ? 200 : 429, used });
    if (!accepted) {
      seen.refused++;
      sendJson(res, 429, { ...callLimit(), 'retry-after': retryAfter }, { errors: TOO_MANY });
      return;
    }
    const limit = Math.min(250, Number(url.searchParams.get('limit') ?? 50) || 50);
    const sinceId = Number(url.searchParams.get('since_id') ?? 0) || 0;
    const products = [];
    for (let id = sinceId + 1; id <= Math.min(PRODUCT_COUNT, sinceId + limit); id++) {
      products.push({ id, title: `${shop} product ${id}`, vendor: shop, status: 'active' });
    }
    await new Promise((resolve) => setTimeout(resolve, latencyMs));
    seen.answered++;
    // The header reports the level at arrival, as the request was counted.
    sendJson(res, 200, { 'x-shopify-shop-api-call-limit': `${used}/${bucketSize}` }, { products });
  });

  return {
    ...server,
    shopUrl: (shop) => `${server.url}/shops/${shop}`,
    stats: (shop) => {
      const seen = stats.get(shop);
      if (seen === undefined) throw new Error(`No shop named ${shop}`);
      return { ...seen, arrivals: [...seen.arrivals] };
    },
  };
}
