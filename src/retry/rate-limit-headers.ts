/**
 * What a server says about its rate limits, read from response headers. Every header form the
 * client understands lives here, each with a comment naming the vendor or spec that sends it.
 *
 * Servers disagree on names and units, and some send garbage: a value that does not parse is ignored
 * (the IETF draft says "Malformed RateLimit header fields MUST be ignored"), so the result holds only
 * what could be read, and reading never throws.
 *
 * When several forms are present, each field takes the first form below that yields a valid value
 * (the most standard first, then the most specific):
 * - `retryAfterMs`: `retry-after-ms`, then `Retry-After`.
 * - `remaining`, `resetMs`: IETF `RateLimit`, then the older IETF `RateLimit-Remaining`/`-Reset`,
 *   then `X-RateLimit-*`, then X's `x-rate-limit-*`, then OpenAI's `x-ratelimit-*-requests`,
 *   then Shopify's call limit.
 * - `policy`: IETF `RateLimit-Policy`, then a windowed item of the older `RateLimit-Limit`.
 *
 * - `limit`: a count without a window (`X-RateLimit-Limit`, X's `x-rate-limit-limit`, OpenAI's
 *   `x-ratelimit-limit-requests`, a bare `RateLimit-Limit`). Its period is unknown, but a client
 *   window with a larger `limit` is certainly too generous, so it is still worth knowing.
 */
import { parseDictionary, parseItem, parseList, Token } from 'structured-headers';
import type { InnerList, Item } from 'structured-headers';
import type { Refill } from '../limit/server-budget.js';
import { goDurationPartsMs } from '../core/go-duration.js';

/**
 * A List's Item as this file reads it. structured-headers' own `BareItem` names the DOM's
 * `BufferSource`, which our lib (ES2023 and Node) lacks, so it resolves to `any` here; every value is
 * checked for its type before use, so `unknown` says what we know.
 */
type Member = [bare: unknown, params: Map<string, unknown>];

/**
 * How to read `X-RateLimit-Reset`: `'epoch-seconds'` (GitHub: the reset's time), `'delta-seconds'`
 * (seconds from now), or `'auto'`: a value of at least 10^9 is epoch seconds, anything smaller delta
 * seconds (10^9 s is 2001 as an epoch and 31 years as a delay: no server means either).
 */
export type ResetMode = 'auto' | 'epoch-seconds' | 'delta-seconds';

/**
 * What reading rate-limit headers needs of a response's headers: WHATWG `Headers`, or the HTTP layer's
 * view of undici's raw ones. Names are asked for in lower case, and `keys()` gives them in lower case.
 */
export interface HeaderReader {
  get(name: string): string | null;
  keys(): Iterable<string>;
}

export interface ServerLimits {
  /** Milliseconds the server asks to wait before the next request (Retry-After, retry-after-ms), >= 0. */
  retryAfterMs?: number;
  /** Requests the server says are left in its current window. */
  remaining?: number;
  /** Milliseconds until the server's window resets (relative to `nowMs`), >= 0. */
  resetMs?: number;
  /** The server's quota, when a header reveals it: `limit` requests per `windowMs`. */
  policy?: { limit: number; windowMs: number };
  /** The server's request limit per window of a length it does not say, >= 1. */
  limit?: number;
  /**
   * Set when the quota is a bucket that refills continuously (Shopify's leaky bucket): `remaining`
   * grows back at `perMs` up to `limit` meanwhile, and `resetMs` is when it is full again.
   */
  refill?: Refill;
  /** Names of the headers these values came from, lower-case, for events and debugging. */
  sources: string[];
}

/**
 * With `resetMode: 'auto'`, an `X-RateLimit-Reset` of at least 10^9 is read as epoch seconds (GitHub),
 * anything smaller as delta seconds. 10^9 s is 2001-09-09 as an epoch, and 31 years as a delay: no
 * server means either of those, so the two readings can not be confused.
 */
export const EPOCH_SECONDS_THRESHOLD = 1e9;

/**
 * Reads every rate-limit header it knows. `nowMs` is epoch milliseconds (`Date.now()`), used only to
 * turn HTTP-dates and epoch resets into delays. `resetMode` says how to read `X-RateLimit-Reset`;
 * `X-RateLimit-*` naming another GitHub `resource` than the given one (lower-case) are left unread;
 * `null` reads them whatever resource they name.
 * All durations are whole milliseconds. Never throws.
 */
export function readServerLimits(
  headers: HeaderReader,
  nowMs: number,
  resetMode: ResetMode = 'auto',
  resource: string | null = 'core',
): ServerLimits {
  const out: ServerLimits = { sources: [] };
  // Most responses carry none of these: one pass over the names they do carry is much cheaper than
  // ~20 lookups through Headers' WebIDL layer, and every lookup below would find nothing anyway.
  if (!mentionsLimits(headers)) return out;
  const get = (name: LimitHeader): string | null => headers.get(name);

  // OpenAI and Azure: the delay in milliseconds, finer than Retry-After's seconds.
  take(out, 'retryAfterMs', nonNegativeMs(get('retry-after-ms'), 1), 'retry-after-ms');
  // RFC 9110 §10.2.3: delay-seconds or an HTTP-date.
  take(out, 'retryAfterMs', retryAfter(get('retry-after'), nowMs), 'retry-after');

  // IETF draft-ietf-httpapi-ratelimit-headers, the newest shape first (see readRateLimitField).
  const current = readRateLimitField(get('ratelimit'));
  take(out, 'remaining', current?.remaining, 'ratelimit');
  take(out, 'resetMs', current?.resetMs, 'ratelimit');
  take(out, 'policy', readPolicyField(get('ratelimit-policy'), current?.name), 'ratelimit-policy');

  // IETF drafts up to -06 (and draft-polli): one field each, Integers, reset in delta seconds.
  // Their RateLimit-Limit may carry windowed policies: `RateLimit-Limit: 100, 100;w=60`.
  take(out, 'remaining', sfCount(get('ratelimit-remaining')), 'ratelimit-remaining');
  take(out, 'resetMs', sfSeconds(get('ratelimit-reset')), 'ratelimit-reset');
  take(out, 'policy', readPolicyField(get('ratelimit-limit'), undefined, true), 'ratelimit-limit');

  // GitHub (reset in epoch seconds) and many others (reset in delta seconds): X-RateLimit-*. GitHub
  // keeps one quota per resource and says which one an answer's numbers describe: a search answer's
  // 30 a minute must not become the client's limit for the REST API (`core`), nor pause it.
  const foreign = otherResource(headers.get('x-ratelimit-resource'), resource);
  if (!foreign) {
    take(out, 'remaining', count(get('x-ratelimit-remaining')), 'x-ratelimit-remaining');
    take(out, 'resetMs', xRateLimitReset(get('x-ratelimit-reset'), nowMs, resetMode), 'x-ratelimit-reset');
  }

  // X (Twitter) API v2: x-rate-limit-*, reset always in epoch seconds.
  take(out, 'remaining', count(get('x-rate-limit-remaining')), 'x-rate-limit-remaining');
  take(out, 'resetMs', epochReset(get('x-rate-limit-reset'), nowMs), 'x-rate-limit-reset');

  // OpenAI: per-request quota with Go-style durations (`6m0s`). The `-tokens` headers count tokens,
  // not requests, so a request limiter has no use for them.
  take(out, 'remaining', count(get('x-ratelimit-remaining-requests')), 'x-ratelimit-remaining-requests');
  take(out, 'resetMs', goDurationMs(get('x-ratelimit-reset-requests')), 'x-ratelimit-reset-requests');

  // Shopify Admin REST: `used/size` of a leaky bucket (shopify.dev/docs/api/usage/limits: a bucket of
  // 40 leaking 2 a second on the standard plans, 400 leaking 20 on Plus: a twentieth of its size a
  // second either way). What is left grows back as it leaks; it is empty again when `used` has leaked.
  const shopify = shopifyBucket(get('x-shopify-shop-api-call-limit'));
  if (shopify !== undefined && out.remaining === undefined) {
    take(out, 'remaining', shopify.remaining, 'x-shopify-shop-api-call-limit');
    if (out.resetMs === undefined && shopify.resetMs > 0) {
      out.resetMs = shopify.resetMs;
      out.refill = shopify.refill;
    }
  }

  // Limits without a window: GitHub and most others, X, OpenAI, and the older IETF field's bare form.
  for (const name of ['x-ratelimit-limit', 'x-rate-limit-limit', 'x-ratelimit-limit-requests'] as const) {
    if (!(foreign && name === 'x-ratelimit-limit')) take(out, 'limit', positive(count(get(name))), name);
  }
  take(out, 'limit', positive(sfCount(get('ratelimit-limit'))), 'ratelimit-limit');

  return out;
}

/** Whether GitHub's `X-RateLimit-Resource` names a quota other than `resource` (null: any is ours). */
function otherResource(value: string | null, resource: string | null): boolean {
  return resource !== null && value !== null && value.trim().toLowerCase() !== resource;
}

/**
 * The statuses that refuse for rate when they carry a wait (`Retry-After`): 429; 503 (overload); and
 * 403, which GitHub sends for its secondary limits. Without a wait a 403 is an ordinary "forbidden".
 */
export function refusesForRate(status: number): boolean {
  return status === 429 || status === 503 || status === 403;
}

/**
 * Whether a refused answer says the quota is used up until its reset: `remaining` 0 on a 429 or 503,
 * or on a 403 whose body says so (GitHub's primary limit: "API rate limit exceeded"). An ordinary 403
 * that happened to take the last unit of quota also shows `remaining` 0, and must not be retried.
 */
export function usedUp(status: number, limits: ServerLimits, bodyPreview: string): boolean {
  return limits.remaining === 0 && refusesForRate(status) && (status !== 403 || /rate limit/i.test(bodyPreview));
}

/** Every header `readServerLimits` reads; `get` there takes only these, so the list can not fall behind. */
const LIMIT_HEADERS = [
  'retry-after-ms',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-rate-limit-remaining',
  'x-rate-limit-reset',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-shopify-shop-api-call-limit',
  'x-ratelimit-limit',
  'x-rate-limit-limit',
  'x-ratelimit-limit-requests',
] as const;
type LimitHeader = (typeof LIMIT_HEADERS)[number];
const LIMIT_HEADER_SET: ReadonlySet<string> = new Set(LIMIT_HEADERS);

/**
 * Whether any header `readServerLimits` reads is present: a pass over the few names a response has,
 * so that the many responses that say nothing of limits cost nothing more.
 */
export function mentionsLimits(headers: HeaderReader): boolean {
  for (const name of headers.keys()) if (LIMIT_HEADER_SET.has(name)) return true;
  return false;
}

/** `x-should-retry` (OpenAI, Anthropic) or `stripe-should-retry` (Stripe): the server's own verdict. */
export function serverSaysRetry(headers: HeaderReader): boolean | undefined {
  for (const name of ['x-should-retry', 'stripe-should-retry']) {
    const value = headers.get(name)?.trim().toLowerCase();
    if (value === 'true') return true;
    if (value === 'false') return false;
  }
  return undefined;
}

type Field = 'retryAfterMs' | 'remaining' | 'resetMs' | 'policy' | 'limit';

function positive(value: number | undefined): number | undefined {
  return value !== undefined && value >= 1 ? value : undefined;
}

/** Sets a field unless an earlier (preferred) header already did, and records where it came from. */
function take<K extends Field>(out: ServerLimits, key: K, value: ServerLimits[K] | undefined, source: string): void {
  if (value === undefined || out[key] !== undefined) return;
  out[key] = value;
  if (!out.sources.includes(source)) out.sources.push(source);
}

// ---- IETF structured fields (RFC 9651), parsed by structured-headers ----

interface CurrentLimit {
  name: string | undefined;
  remaining: number | undefined;
  resetMs: number | undefined;
}

/**
 * `RateLimit` has had two shapes:
 * - draft-07: a Dictionary, `RateLimit: limit=100, remaining=50, reset=30`;
 * - draft-08 and later: a List of one Item per policy, `RateLimit: "default";r=50;t=30`. Servers
 *   must send the policy with the fewest remaining, and we keep the lowest if they send more.
 */
function readRateLimitField(value: string | null): CurrentLimit | undefined {
  if (value === null) return undefined;
  // A List Item such as `default;r=50` also parses as a Dictionary, hence the check for the old keys.
  const dictionary = attempt(() => parseDictionary(value));
  const old = { name: undefined, remaining: bareCount(dictionary?.get('remaining')), resetMs: bareSeconds(dictionary?.get('reset')) };
  if (old.remaining !== undefined || old.resetMs !== undefined) return old;
  let lowest: CurrentLimit | undefined;
  for (const [name, params] of listItems(value)) {
    const remaining = countOf(params.get('r'));
    if (remaining === undefined || (lowest?.remaining !== undefined && lowest.remaining <= remaining)) continue;
    lowest = { name: nameOf(name), remaining, resetMs: secondsOf(params.get('t')) };
  }
  return lowest;
}

/**
 * A List of quota policies: draft-08 and later `RateLimit-Policy: "default";q=100;w=60` (prefer the
 * policy the `RateLimit` field named), or drafts up to -07 `RateLimit-Policy: 100;w=60`, where the
 * quota is the Item itself (also the windowed items of the older `RateLimit-Limit: 100, 100;w=60`).
 * A policy counted in other units (`qu="content-bytes"`) or without a window is skipped.
 */
function readPolicyField(value: string | null, preferred: string | undefined, bareOnly = false): ServerLimits['policy'] {
  if (value === null) return undefined;
  let first: ServerLimits['policy'];
  for (const [item, params] of listItems(value)) {
    const unit = params.get('qu');
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a Token or a String prints as its text; no other item equals these names
    if (unit !== undefined && !['request', 'requests'].includes(String(unit))) continue;
    const limit = bareOnly ? countOf(item) : (countOf(params.get('q')) ?? countOf(item));
    const windowMs = secondsOf(params.get('w'));
    // A quota of 0 or a window of 0 describes no pace a limiter could keep.
    if (limit === undefined || limit === 0 || windowMs === undefined || windowMs === 0) continue;
    const policy = { limit, windowMs };
    if (preferred !== undefined && nameOf(item) === preferred) return policy;
    first ??= policy;
  }
  return first;
}

function sfCount(value: string | null): number | undefined {
  return value === null ? undefined : bareCount(attempt(() => parseItem(value)));
}

function sfSeconds(value: string | null): number | undefined {
  return value === null ? undefined : bareSeconds(attempt(() => parseItem(value)));
}

function bareCount(member: Item | InnerList | undefined): number | undefined {
  return member === undefined || isInnerList(member) ? undefined : countOf(member[0]);
}

function bareSeconds(member: Item | InnerList | undefined): number | undefined {
  return member === undefined || isInnerList(member) ? undefined : secondsOf(member[0]);
}

/** A List's Items, its inner lists skipped; none on a structured field syntax error. */
function listItems(value: string): Member[] {
  // The cast only trades structured-headers' `any` (see `Member`) for `unknown`.
  return (attempt(() => parseList(value)) ?? []).filter((member) => !isInnerList(member)) as Member[];
}

function isInnerList(member: Item | InnerList): member is InnerList {
  return Array.isArray(member[0]);
}

/** A policy's name: a String or a Token (draft-08 allows both). */
function nameOf(item: unknown): string | undefined {
  return typeof item === 'string' ? item : item instanceof Token ? item.toString() : undefined;
}

function countOf(item: unknown): number | undefined {
  return typeof item === 'number' && Number.isSafeInteger(item) && item >= 0 ? item : undefined;
}

function secondsOf(item: unknown): number | undefined {
  return typeof item === 'number' ? toMs(item, 1000) : undefined;
}

/** The parsed value, or undefined on a structured field syntax error. */
function attempt<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}

// ---- Plain numbers (not structured fields) ----

const INTEGER = /^\d+$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;

/** A request count: digits only, a safe integer. */
function count(value: string | null): number | undefined {
  const text = value?.trim();
  if (text === undefined || !INTEGER.test(text)) return undefined;
  return countOf(Number(text));
}

/** `value * unitMs`, rounded, when it is a finite number >= 0 whose result is a safe integer. */
function toMs(value: number, unitMs: number): number | undefined {
  const ms = Math.round(value * unitMs);
  return Number.isFinite(value) && value >= 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/** Digits with an optional fraction, times `unitMs`. A leading `-` means "now" (0), as for dates in the past. */
function nonNegativeMs(value: string | null, unitMs: number): number | undefined {
  const text = value?.trim();
  if (text === undefined) return undefined;
  const negative = text.startsWith('-');
  const digits = negative ? text.slice(1) : text;
  if (!DECIMAL.test(digits)) return undefined;
  const ms = toMs(Number(digits), unitMs);
  return ms === undefined ? undefined : negative ? 0 : ms;
}

/** Retry-After: delay seconds (integer, or a decimal as some servers send), else an HTTP-date. */
function retryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const delay = nonNegativeMs(value, 1000);
  if (delay !== undefined) return delay;
  const dateMs = httpDateMs(value.trim());
  return dateMs === undefined ? undefined : Math.max(0, dateMs - nowMs);
}

function xRateLimitReset(value: string | null, nowMs: number, mode: ResetMode): number | undefined {
  const text = value?.trim();
  if (text === undefined || !DECIMAL.test(text)) return undefined;
  const epoch = mode === 'epoch-seconds' || (mode === 'auto' && Number(text) >= EPOCH_SECONDS_THRESHOLD);
  return epoch ? epochReset(text, nowMs) : toMs(Number(text), 1000);
}

/** Epoch seconds (a fraction allowed, as Discord sends) to a delay from `nowMs`; past → 0. */
function epochReset(value: string | null, nowMs: number): number | undefined {
  const text = value?.trim();
  if (text === undefined || !DECIMAL.test(text)) return undefined;
  const atMs = toMs(Number(text), 1000);
  return atMs === undefined ? undefined : Math.max(0, atMs - Math.round(nowMs));
}

// Go's time.Duration.String(): `1h2m3.5s`, `6m0s`, `20ms`, `1.5µs`; a bare `0` too.
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|μs|ns))+$/;

function goDurationMs(value: string | null): number | undefined {
  const text = value?.trim();
  if (text === '0') return 0;
  if (text === undefined || !GO_DURATION.test(text)) return undefined;
  return toMs(goDurationPartsMs(text), 1);
}

function shopifyBucket(value: string | null): { remaining: number; resetMs: number; refill: Refill } | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(value?.trim() ?? '');
  const used = countOf(Number(match?.[1]));
  const size = countOf(Number(match?.[2]));
  if (used === undefined || size === undefined || used > size || size === 0) return undefined;
  const perMs = size / SHOPIFY_SIZE_PER_LEAK_PER_SECOND / 1_000;
  return { remaining: size - used, resetMs: Math.ceil(used / perMs), refill: { perMs, limit: size } };
}

/** Shopify's buckets leak a twentieth of their size a second (40 and 2, 400 and 20). */
const SHOPIFY_SIZE_PER_LEAK_PER_SECOND = 20;

// ---- HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, obsolete RFC 850 and asctime, always UTC ----

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// `Sun, 06 Nov 1994 08:49:37 GMT` and `Sunday, 06-Nov-94 08:49:37 GMT`.
const IMF_OR_RFC850 = /^[A-Z][a-z]{2,8}, (\d{2})[ -]([A-Z][a-z]{2})[ -](\d{4}|\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
// `Sun Nov  6 08:49:37 1994`.
const ASCTIME = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/** Parsed by hand because Date.parse accepts almost anything (`"1"` is a date) and reads asctime as local time. */
function httpDateMs(text: string): number | undefined {
  let parts: Array<string | undefined>;
  const imf = IMF_OR_RFC850.exec(text);
  const asc = imf ? null : ASCTIME.exec(text);
  if (imf) parts = [imf[3], imf[2], imf[1], imf[4], imf[5], imf[6]];
  else if (asc) parts = [asc[6], asc[1], asc[2], asc[3], asc[4], asc[5]];
  else return undefined;
  const [yearText, monthName, ...rest] = parts;
  const [day, hour, minute, second] = rest.map(Number) as [number, number, number, number];
  let year = Number(yearText);
  // RFC 850 two-digit years: RFC 9110 says a year more than 50 years ahead is in the past century.
  if (yearText?.length === 2) year += year < 50 ? 2000 : 1900;
  const month = MONTHS.indexOf(monthName ?? '');
  if (month < 0 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, month, day, hour, minute, second);
  // Rejects days the month does not have (`31 Feb`), which Date.UTC would roll into March.
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}
