// RateLimitedClient: the public class, which wires the scheduler, the HTTP layer, `client.fetch` and the events together.
import { publishClientClose, publishClientCreate, publishResponseStatus } from './core/diagnostics.js';
import type { ClientEventName, Listener } from './core/event-types.js';
import { Emitter } from './core/events.js';
import { normalizeClientOptions, normalizeConcurrency, normalizeScheduleOptions } from './core/normalize-options.js';
import { normalizeWindows } from './core/normalize-windows.js';
import type { ClientStats, CloseOptions, KeyLimits, KeyStats, RateWindow, ScheduleOptions, TaskContext } from './core/options.js';
import { normalizeKey } from './core/normalize-keys.js';
import { boolean, describe, integerAtLeast, knownKeys, plainObject } from './core/validate.js';
import { type InternalTaskContext, kAbortTask, kMetering, kScheduleRequest, type TaskHandle } from './core/internal.js';
import type { Metering } from './http/metering.js';
import { createLimitedFetch, fetchInputError, isFetchInput, type LimitedFetch } from './http/client-fetch.js';
import { HttpLayer } from './http/http-layer.js';
import { normalizeHttpOptions, type ScheduleRequest } from './http/http-options.js';
import type { MethodOptions, RequestOptions } from './http/options.js';
import type { HttpResponse } from './http/response.js';
import { Scheduler } from './scheduler/scheduler.js';
import type { RateLimitedClientOptions } from './client-options.js';

/**
 * Runs work under rate limits: a priority queue, drained by a fixed pool of workers, through a
 * semaphore (`concurrency`) and exact sliding windows (`rateLimit`).
 *
 * @example
 * const client = new RateLimitedClient({ rateLimit: { limit: 100, windowMs: 1_000 }, concurrency: 8 });
 * const user = await client.schedule(({ signal }) => fetch(url, { signal }).then((r) => r.json()));
 */
export class RateLimitedClient {
  readonly #events: Emitter = new Emitter(this);
  readonly #scheduler: Scheduler;
  readonly #http: HttpLayer;
  /** The `name` option: it labels this client's `stats()`, diagnostics messages, metrics and spans. */
  readonly name: string | undefined;
  #closeAnnounced = false;

  /**
   * A standard `fetch` that goes through the queue and the limits: hand it to SDKs that accept a custom
   * fetch (`new Octokit({ request: { fetch: client.fetch } })`). A bound function; `init.rateLimit`
   * takes `{ priority, weight, cost, maxWaitMs }`.
   */
  readonly fetch: LimitedFetch;

  constructor(options: RateLimitedClientOptions = {}) {
    const normalized = normalizeClientOptions(options);
    const http = normalizeHttpOptions(options);
    this.name = normalized.name;
    this.#scheduler = new Scheduler(normalized, this.#events);
    const scheduleRequest: ScheduleRequest = (task, scheduleOptions, seq) => this[kScheduleRequest](task, scheduleOptions, seq);
    const scheduler = this.#scheduler;
    const events = this.#events;
    this.#http = new HttpLayer(http, {
      schedule: scheduleRequest,
      coolDown: (ms, currency, key) => scheduler.coolDown(ms, currency, key),
      setServerBudget: (remaining, resetMs, carried, currency, refill, key) =>
        scheduler.setServerBudget(remaining, resetMs, carried, currency, refill, key),
      currencies: () => scheduler.currencies,
      learnFromRefusal: (maxCooldownMs, key) => scheduler.learnFromRefusal(maxCooldownMs, key),
      learnFromSuccess: (key) => scheduler.learnFromSuccess(key),
      windows: (key) => scheduler.windowsOf(key),
      setWindows: (windows, key) => (key === undefined ? scheduler.setServerWindows(windows) : scheduler.setKeyWindows(key, windows)),
      rateLimited: (event) => events.emit('rate-limited', event),
      retryAfter: (delayMs, signal, again) => scheduler.retryAfter(delayMs, signal, again),
      retrying: (event) => events.emit('retry', event),
      hold: () => scheduler.hold(),
      heard: (status) => publishResponseStatus(this, status),
    });
    const limitedFetch = createLimitedFetch(
      scheduleRequest,
      () => this.#http.dispatcher,
      http.timeoutMs,
      this.#http.metering,
      (response, weight, refusal, key) => {
        this.#http.listen(response.headers, response.status, response.url, weight, refusal, key);
      },
    );
    this.fetch = (input, init) => (isFetchInput(input) ? limitedFetch(input, init) : Promise.reject(fetchInputError(input)));
    publishClientCreate(this);
  }

  /**
   * Sends an HTTP request through the queue and the limits. Resolves with the response, its body read;
   * a status outside 200-299 rejects with `HttpError` unless `throwHttpErrors: false`.
   */
  request(options: RequestOptions): Promise<HttpResponse> {
    return this.#http.request(options);
  }

  /**
   * Sends a GET request to `path`: {@link RateLimitedClient.request | request()} with `method: 'GET'`.
   * @example
   * const issues = await (await client.get('/repos/nodejs/node/issues', { query: { state: 'open', per_page: 10 } })).json();
   */
  get(path: string, options?: MethodOptions): Promise<HttpResponse> {
    return this.#http.request({ ...options, method: 'GET', path });
  }

  /** Sends a POST request to `path`: {@link RateLimitedClient.request | request()} with `method: 'POST'`. */
  post(path: string, options?: MethodOptions): Promise<HttpResponse> {
    return this.#http.request({ ...options, method: 'POST', path });
  }

  /** Sends a PUT request to `path`: {@link RateLimitedClient.request | request()} with `method: 'PUT'`. */
  put(path: string, options?: MethodOptions): Promise<HttpResponse> {
    return this.#http.request({ ...options, method: 'PUT', path });
  }

  /** Sends a PATCH request to `path`: {@link RateLimitedClient.request | request()} with `method: 'PATCH'`. */
  patch(path: string, options?: MethodOptions): Promise<HttpResponse> {
    return this.#http.request({ ...options, method: 'PATCH', path });
  }

  /** Sends a DELETE request to `path`: {@link RateLimitedClient.request | request()} with `method: 'DELETE'`. */
  delete(path: string, options?: MethodOptions): Promise<HttpResponse> {
    return this.#http.request({ ...options, method: 'DELETE', path });
  }

  /** Sends a HEAD request to `path`: {@link RateLimitedClient.request | request()} with `method: 'HEAD'`. */
  head(path: string, options?: MethodOptions): Promise<HttpResponse> {
    return this.#http.request({ ...options, method: 'HEAD', path });
  }

  /**
   * Queues `task` and settles with its result once it has run within the limits. Bad options reject
   * the promise (TypeError or RangeError naming the option); nothing is queued then.
   */
  schedule<T>(task: (context: TaskContext) => T | PromiseLike<T>, options?: ScheduleOptions): Promise<T> {
    return this.#submit(task, options, true);
  }

  /**
   * For the interceptor: the client's meter (see kMetering).
   * @internal
   */
  get [kMetering](): Metering {
    return this.#http.metering;
  }

  /**
   * For this package's HTTP layers: a task whose start counts from its response (see kScheduleRequest).
   * @internal
   */
  [kScheduleRequest]<T>(
    task: (context: InternalTaskContext) => T | PromiseLike<T>,
    options?: ScheduleOptions,
    seq?: number,
    handle?: TaskHandle,
  ): Promise<T> {
    return this.#submit(task as (context: TaskContext) => T | PromiseLike<T>, options, false, seq, handle);
  }

  /**
   * For the interceptor: aborts the task queued with `handle` (see TaskHandle).
   * @internal
   */
  [kAbortTask](handle: TaskHandle, reason: unknown): void {
    this.#scheduler.abortTask(handle, reason);
  }

  #submit<T>(
    task: (context: TaskContext) => T | PromiseLike<T>,
    options: ScheduleOptions | undefined,
    settleAtStart: boolean,
    seq?: number,
    handle?: TaskHandle,
  ): Promise<T> {
    if (typeof task !== 'function') {
      return Promise.reject(new TypeError(`Expected \`task\` to be a function, got ${describe(task)}`));
    }
    let normalized;
    try {
      normalized = normalizeScheduleOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#scheduler.submit(task, normalized, settleAtStart, seq, handle);
  }

  /** Resolves when the queue is empty and nothing is in flight (asyncio's `queue.join()`). */
  onIdle(): Promise<void> {
    return this.#scheduler.onIdle();
  }

  /** Resolves when nothing waits to start (work may still be in flight). */
  onEmpty(): Promise<void> {
    return this.#scheduler.onEmpty();
  }

  /**
   * Resolves when fewer than `size` tasks wait to start (queued and blocked): await it before each
   * submission for producer backpressure, as asyncio's `await queue.put()` gives. Each free place lets
   * in one caller, first come first served; submit right after the `await`, in the same turn.
   */
  onSizeLessThan(size: number): Promise<void> {
    try {
      integerAtLeast('size', size, 1);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#scheduler.onSizeLessThan(size);
  }

  /** Starts nothing new until `resume()`; running tasks go on. */
  pause(): void {
    this.#scheduler.pause();
  }

  /** Starts queued work again after `pause()`. */
  resume(): void {
    this.#scheduler.resume();
  }

  /** True between `pause()` and `resume()`. */
  get isPaused(): boolean {
    return this.#scheduler.isPaused;
  }

  /**
   * Replaces the windows for work not yet started. Starts already made count in the new windows.
   * A waiting task heavier than a new limit can never start, so it is rejected with a RangeError.
   */
  setRateLimit(windows: RateWindow | readonly RateWindow[] | undefined): void {
    this.#scheduler.setRateLimit(normalizeWindows('rateLimit', windows));
  }

  /** Changes the semaphore size (and the pool size, unless `workers` was given) for work not yet started. */
  setConcurrency(concurrency: number): void {
    this.#scheduler.setConcurrency(normalizeConcurrency('concurrency', concurrency));
  }

  /**
   * Stops taking work (`schedule` then rejects with `ClientClosedError`) and resolves when what was
   * queued and in flight has finished. With `{ drain: false }` what was queued is rejected instead.
   */
  close(options: CloseOptions = {}): Promise<void> {
    let drain: boolean;
    try {
      const given = plainObject('options', options);
      knownKeys('', given, ['drain']);
      drain = given.drain === undefined ? true : boolean('drain', given.drain);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#scheduler
      .close(drain)
      .then(() => this.#http.close())
      .then(() => {
        // Once, however many times close() is called.
        if (this.#closeAnnounced) return;
        this.#closeAnnounced = true;
        publishClientClose(this);
      });
  }

  /** `await using client = new RateLimitedClient(...)` closes it, draining, at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * A snapshot of the client's counters and of each window's usage, taken now; with `{ key }`, that
   * key's own (zeros for a key the client does not keep: never used, or let go when idle).
   * @example client.stats({ key: shop }).queued
   */
  stats(): ClientStats;
  stats(options: { key: string }): KeyStats;
  stats(options?: { key: string }): ClientStats | KeyStats {
    if (options === undefined) return this.#scheduler.stats();
    const given = plainObject('options', options);
    knownKeys('', given, ['key']);
    return this.#scheduler.keyStats(normalizeKey(given.key));
  }

  /**
   * A key's own limits from now on (a plan change): the fields given replace the key's, the others
   * stay. The key is made if the client does not keep it; once let go when idle, it comes back with
   * `perKey`'s limits (keep plans in a `perKey` function). A waiting task of the key that no longer fits
   * is rejected with a RangeError. Bad limits throw, naming the key and the field; nothing changes then.
   * @example client.setKeyLimits(shop, { rateLimit: { limit: 20, windowMs: 1_000, burst: 400 } }) // Shopify Plus
   */
  setKeyLimits(key: string, limits: KeyLimits): void {
    this.#scheduler.setKeyLimits(normalizeKey(key), limits);
  }

  /**
   * Adds a listener for `event` (see {@link ClientEvents} for each one's arguments) and returns the client.
   * A listener that throws never breaks the scheduler: the error becomes an `error` event, or a process
   * warning when nobody listens for those.
   * @example client.on('rate-limited', (event) => console.warn(`${event.reason}: waiting ${event.waitMs} ms`));
   */
  on<E extends ClientEventName>(event: E, listener: Listener<E>): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Removes a listener added with `on()` and returns the client. */
  off<E extends ClientEventName>(event: E, listener: Listener<E>): this {
    this.#events.off(event, listener);
    return this;
  }
}
