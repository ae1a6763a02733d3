// The HTTP options: of the client (base URL, headers, transport, retry, adaptive) and of each request.
import type { Dispatcher } from 'undici';
import type { Cost } from '../core/cost.js';
import type { Meter } from '../core/meter.js';
import type { ResetMode } from '../retry/rate-limit-headers.js';
import type { RetryOptions } from '../retry/retry-options.js';
import type { HttpMethod } from './method.js';

export type { HttpMethod } from './method.js';

/** Header values as given: a value, or undefined to drop a default header for one request. */
export type HeadersInit = Record<string, string | number | undefined>;

/** One query parameter's value: written as text; `undefined` and `null` leave the parameter out. */
export type QueryValue = string | number | boolean | null | undefined;
/**
 * A request's `query`: a `URLSearchParams`, or an object of values where an array repeats the key.
 * @example { state: 'open', labels: ['bug', 'help wanted'], page: 2 }
 */
export type QueryInit = URLSearchParams | Record<string, QueryValue | readonly QueryValue[]>;

/** A request body the transports send as they are. */
export type BodyInit = string | Uint8Array | ArrayBuffer | URLSearchParams;

/** The HTTP part of the client's options. */
export interface HttpClientOptions {
  /**
   * Requests take a path relative to it; a path can not leave it.
   * @example 'https://api.github.com'
   */
  baseUrl?: string | URL | undefined;
  /** Headers sent with every request; a request's own headers win. */
  headers?: HeadersInit | undefined;
  /**
   * Most milliseconds one attempt may take, covering the response headers and the body.
   * @default 30_000
   */
  timeoutMs?: number | undefined;
  /**
   * `'fetch'`: the global `fetch`, looked up at each call (so msw's `setupServer` sees it).
   * `'undici'`: undici's Dispatcher API, faster.
   * @default 'fetch'
   */
  transport?: 'fetch' | 'undici' | undefined;
  /** An undici Dispatcher (Agent, Pool, a mock) to send with, instead of the client's own keep-alive Agent. */
  dispatcher?: Dispatcher | undefined;
  /**
   * Let a request path name a full URL of another origin. Off, a path can never leave `baseUrl`.
   * @default false
   */
  allowAbsoluteUrls?: boolean | undefined;
  /** More header names (any case) whose values must never be shown in errors, events or stats. */
  secretHeaders?: readonly string[] | undefined;
  /**
   * Retry failed requests through the queue (each retry counts in the windows), or `false`.
   * @default { retries: 2 } (see RetryOptions)
   */
  retry?: RetryOptions | false | undefined;
  /**
   * Obey the server's Retry-After and rate-limit headers: a shared cooldown, a cap from `remaining`,
   * and windows tightened to a smaller quota the server reveals. An object turns it on and tunes how the
   * headers are read.
   * @default true (resetMode 'auto', resource 'core')
   */
  adaptive?:
    | boolean
    | {
        /**
         * How to read `X-RateLimit-Reset`: GitHub sends epoch seconds, others seconds from now; `'auto'`
         * decides by size (see {@link ResetMode}).
         * @default 'auto'
         */
        resetMode?: ResetMode | undefined;
        /**
         * GitHub names the quota each answer's `X-RateLimit-*` describe in `X-RateLimit-Resource` (`core`,
         * `search`, `graphql`…): only answers about this one (any case), or that name none, change the
         * client's limits.
         * @default 'core'
         */
        resource?: string | undefined;
      }
    | undefined;
  /**
   * How the API bills each request beyond its weight: estimates its `cost` from the request before it is
   * sent and settles it from the response (its `usage`, also from a streamed body), and reads the
   * server's remaining budget per currency. Used by `request()`, `client.fetch` and the interceptor.
   * @default none: a request costs its `weight` (and any `cost` given) only
   * @example meter: openai() // from 'rate-limited-client/meters'
   */
  meter?: Meter | undefined;
}

/** Options of `request(options)`: what to send, and how the request is scheduled. */
export interface RequestOptions {
  /**
   * The HTTP method, in either case.
   * @default 'GET'
   */
  method?: HttpMethod | Lowercase<HttpMethod> | undefined;
  /** Relative to `baseUrl` (or a full URL when there is no `baseUrl` or `allowAbsoluteUrls` is set). */
  path: string;
  /** Appended to the path's query; arrays repeat the key, `undefined` and `null` values are left out. */
  query?: QueryInit | undefined;
  /** This request's headers, over the client's `headers`; a value of `undefined` drops a client header for this request. */
  headers?: HeadersInit | undefined;
  /** Sent as JSON with `content-type: application/json`. Not together with `body`. */
  json?: unknown;
  /**
   * Sent as it is; a `URLSearchParams` gets `content-type: application/x-www-form-urlencoded` unless the
   * headers set one. Not together with `json`, and not on GET or HEAD.
   */
  body?: BodyInit | undefined;
  /**
   * Queue priority: lower runs first, equal priorities first-in first-out (a retry keeps its place among them).
   * @default 0
   */
  priority?: number | undefined;
  /**
   * Units of every window and of the concurrency that each attempt (and each redirect hop) uses.
   * @default 1
   */
  weight?: number | undefined;
  /**
   * What each attempt costs in the currencies the windows count besides requests (`{ tokens: 900 }`);
   * over the `meter`'s estimate, currency by currency. See `ScheduleOptions.cost`.
   */
  cost?: Cost | undefined;
  /** Aborts the request while it is queued, running (its body included) or waiting to retry; the promise rejects with the reason. */
  signal?: AbortSignal | undefined;
  /** Per attempt, covering headers and body. @default the client's `timeoutMs` */
  timeoutMs?: number | undefined;
  /** Most milliseconds to wait for a start. @default Infinity */
  maxWaitMs?: number | undefined;
  /**
   * The tenant the request is for (a shop, an installation, a customer's API key): its key's limits
   * (`perKey`) hold besides the client's, keys take turns, and what the server answers (a 429, a
   * remaining budget) holds for this key only. See `ScheduleOptions.key`.
   * @default none
   */
  key?: string | undefined;
  /**
   * Reject a status outside 200-299 with `HttpError`. With false, such a response resolves.
   * @default true
   */
  throwHttpErrors?: boolean | undefined;
  /** Sent as the `Idempotency-Key` header. */
  idempotencyKey?: string | undefined;
  /**
   * Resolve at the response headers with the body as a live stream (`response.body`), for large
   * downloads. The request holds its slot, and `timeoutMs` keeps running, until the body is read to the
   * end or cancelled.
   * @default false
   */
  stream?: boolean | undefined;
  /** This request's retry policy, over the client's; `false` turns retries off for it. */
  retry?: RetryOptions | false | undefined;
}

/** Options of `get(path, options)` and the other method shortcuts. */
export type MethodOptions = Omit<RequestOptions, 'method' | 'path'>;
