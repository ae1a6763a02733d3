// rateLimit(client): an undici interceptor that sends each request through the client's queue and limits.
import type { Dispatcher } from 'undici';
import type { RateLimitedClient } from '../client.js';
import { publishResponseStatus } from '../core/diagnostics.js';
import type { Cost } from '../core/cost.js';
import {
  type InternalTaskContext,
  kAbortTask,
  kMetering,
  kOnStop,
  kQueuedTask,
  kScheduleRequest,
  kSettleSlot,
  type TaskHandle,
} from '../core/internal.js';
import type { MeterRequest, UsageReader } from '../core/meter.js';
import { bodyText, type Metering, tapChunk } from '../http/metering.js';
import { describe, finiteNumber, integerAtLeast, knownKeys, plainObject } from '../core/validate.js';
import { normalizeKey } from '../core/normalize-keys.js';

type DispatchOptions = Dispatcher.DispatchOptions;
type DispatchHandler = Dispatcher.DispatchHandler;
type DispatchController = Dispatcher.DispatchController;
type Headers = Parameters<NonNullable<DispatchHandler['onResponseStart']>>[2];
type RawHeaders = NonNullable<DispatchController['rawHeaders']> | null;
type Socket = Parameters<NonNullable<DispatchHandler['onRequestUpgrade']>>[3];

/** Options of `rateLimit(client, options)`: where each request goes in the client's queue. */
export interface RateLimitInterceptorOptions {
  /**
   * Queue priority of each request, or a function of its dispatch options. Lower runs first.
   * @default 0
   * @example (opts) => (opts.method === 'GET' ? 0 : 1)
   */
  priority?: number | ((opts: DispatchOptions) => number) | undefined;
  /**
   * Units of every window and of the concurrency each request uses, or a function of its dispatch options.
   * @default 1
   */
  weight?: number | ((opts: DispatchOptions) => number) | undefined;
  /**
   * What each request costs in the currencies the client's windows count besides requests, or a
   * function of its dispatch options; over the client's `meter` estimate, currency by currency.
   * @example (opts) => ({ points: opts.path.startsWith('/graphql') ? 10 : 0 })
   */
  cost?: Cost | ((opts: DispatchOptions) => Cost | undefined) | undefined;
  /**
   * The tenant each request is for, or a function of its dispatch options (undefined: none): its key's
   * limits (the client's `perKey`) hold besides the client's, and keys take turns.
   * @example (opts) => new URL(opts.origin ?? '').hostname // a Shopify shop per host
   */
  key?: string | ((opts: DispatchOptions) => string | undefined) | undefined;
}

/**
 * An undici interceptor that sends every request through `client`'s queue, windows, semaphore and
 * worker pool: `new Agent().compose(rateLimit(client))`. A request holds its worker and permits until
 * its response has ended (read or dump the body), and counts in the windows from its response headers.
 *
 * Compose it before `redirect` and `retry` (`agent.compose(rateLimit(client), interceptors.redirect())`):
 * then each hop and each retry the server sees is its own scheduled request. Composed after them, it
 * would schedule the whole chain as one request and count it once.
 */
export function rateLimit(client: RateLimitedClient, options: RateLimitInterceptorOptions = {}): Dispatcher.DispatcherComposeInterceptor {
  if (typeof (client as Partial<RateLimitedClient> | null)?.[kScheduleRequest] !== 'function') {
    throw new TypeError(`Expected \`client\` to be a RateLimitedClient, got ${describe(client)}`);
  }
  const checked = plainObject('options', options);
  knownKeys('', checked, ['priority', 'weight', 'cost', 'key']);
  const priority = perRequest('priority', checked.priority, 0, finiteNumber);
  const weight = perRequest('weight', checked.weight, 1, (name, value) => integerAtLeast(name, value, 1));
  const cost = checked.cost;
  if (cost !== undefined && typeof cost !== 'function') {
    // Its currencies are checked against the client's windows per request (they may change); its amounts now.
    const amounts = plainObject('cost', cost);
    for (const currency of Object.keys(amounts)) integerAtLeast(`cost.${currency}`, amounts[currency], 0);
  }
  const key = checked.key;
  if (key !== undefined && typeof key !== 'function') normalizeKey(key);
  const how: Placement = { priority, weight, cost: cost as Placement['cost'], key: key as Placement['key'] };

  return (dispatch) =>
    function rateLimitedDispatch(opts: DispatchOptions, handler: DispatchHandler): boolean {
      new LimitedRequest(dispatch, opts, handler).enqueue(client, how);
      // True: we queue the request ourselves, so the caller never has to wait for 'drain'.
      return true;
    };
}

/** Where each request goes in the client's queue, and what it costs. */
interface Placement {
  readonly priority: number | ((opts: DispatchOptions) => number);
  readonly weight: number | ((opts: DispatchOptions) => number);
  readonly cost: Cost | ((opts: DispatchOptions) => Cost | undefined) | undefined;
  readonly key: string | ((opts: DispatchOptions) => string | undefined) | undefined;
}

/** A fixed value (checked now) or a function (its result is checked by the client when it is queued). */
function perRequest(
  name: string,
  value: unknown,
  fallback: number,
  check: (name: string, value: unknown) => number,
): number | ((opts: DispatchOptions) => number) {
  if (value === undefined) return fallback;
  if (typeof value === 'function') return value as (opts: DispatchOptions) => number;
  if (typeof value !== 'number') {
    throw new TypeError(`Expected \`${name}\` to be a number or a function, got ${describe(value)}`);
  }
  return check(name, value);
}

/**
 * The controller the caller's handler gets at once, before the request leaves the queue, so that it
 * can abort or pause a queued request. Once the real request starts, it forwards to that request's
 * controller (`target`), replaying a pause or abort made while queued.
 */
class CallerController implements DispatchController {
  #target: DispatchController | null = null;
  #paused = false;
  #reason: Error | null = null;
  #aborted = false;
  /** Told of the caller's abort first: it takes the task out of the queue, or stops it. */
  readonly #request: LimitedRequest;

  constructor(request: LimitedRequest) {
    this.#request = request;
  }

  /** Set at each start of the real request (a retry or redirect inside us starts it again). */
  set target(target: DispatchController) {
    this.#target = target;
    if (this.#aborted) target.abort(this.#reason as Error);
    else if (this.#paused) target.pause();
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  // Some interceptors (decompress) read the raw headers from the controller they are given.
  get rawHeaders(): RawHeaders {
    return this.#target?.rawHeaders ?? null;
  }

  set rawHeaders(value: RawHeaders) {
    if (this.#target !== null) this.#target.rawHeaders = value;
  }

  get rawTrailers(): RawHeaders {
    return this.#target?.rawTrailers ?? null;
  }

  set rawTrailers(value: RawHeaders) {
    if (this.#target !== null) this.#target.rawTrailers = value;
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#request.abortTask(reason);
    this.#target?.abort(reason);
  }

  pause(): void {
    this.#paused = true;
    this.#target?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#target?.resume();
  }
}

/**
 * One request through the interceptor: a task in the client's queue, and the handler of the real
 * request once the task runs. It forwards the real request's events to the caller's handler.
 */
class LimitedRequest implements DispatchHandler, TaskHandle {
  readonly #dispatch: Dispatcher['dispatch'];
  readonly #opts: DispatchOptions;
  /** The client that queued it, told of every response's status (the diagnostics channels). */
  #client: RateLimitedClient | null = null;
  readonly #handler: DispatchHandler;
  readonly #controller: CallerController;
  /** Its task, once queued (see TaskHandle): the caller's abort ends it through the client. */
  [kQueuedTask]: unknown = undefined;
  /** The caller's handler got its last call (end, error or upgrade); it gets nothing more. */
  #ended = false;
  /** The running task's context; null until the task runs. */
  #context: InternalTaskContext | null = null;
  /** Settle the task's promise: the worker and permits are held until then. Null when not running. */
  #resolve: (() => void) | null = null;
  #reject: (error: unknown) => void = noop;
  /** The client's meter, and the request as it sees it; undefined without a meter. */
  #metering: Metering | undefined = undefined;
  #metered: MeterRequest | undefined = undefined;
  /** What the request costs (its cost option, checked by the client), for the meter's budgets. */
  #cost: Cost | undefined = undefined;
  /** The request's key, if any: the meter's budgets are that key's. */
  #key: string | undefined = undefined;
  /** Stops listening for the running job's stop (see kOnStop). */
  #unlisten: () => void = noop;
  #weight = 1;
  /** The meter's reader of this response's body. */
  #reader: UsageReader | undefined = undefined;

  constructor(dispatch: Dispatcher['dispatch'], opts: DispatchOptions, handler: DispatchHandler) {
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.#handler = handler;
    this.#controller = new CallerController(this);
  }

  /** The caller aborted: a queued task leaves the queue, a running one is stopped (its context's kOnStop). */
  abortTask(reason: Error): void {
    if (this.#client !== null && this[kQueuedTask] !== undefined) this.#client[kAbortTask](this, reason);
  }

  enqueue(client: RateLimitedClient, how: Placement): void {
    this.#client = client;
    let options;
    try {
      // Now, not when the request leaves the queue: undici's request() and fetch() only learn how to
      // abort from this call, and a caller's abort must reach a queued request too.
      this.#handler.onRequestStart?.(this.#controller, {});
      const { priority, weight } = how;
      let cost = typeof how.cost === 'function' ? how.cost(this.#opts) : how.cost;
      const metering = client[kMetering];
      if (metering.active) {
        const opts = this.#opts;
        this.#metering = metering;
        this.#metered = { method: opts.method.toUpperCase(), url: new URL(opts.path, opts.origin).href, body: bodyText(opts.body) };
        cost = metering.cost(this.#metered, cost) as Cost | undefined;
      }
      this.#cost = cost;
      this.#weight = typeof weight === 'function' ? weight(this.#opts) : weight;
      // A function's key is checked by the client when the request is queued.
      this.#key = typeof how.key === 'function' ? how.key(this.#opts) : how.key;
      options = {
        priority: typeof priority === 'function' ? priority(this.#opts) : priority,
        weight: this.#weight,
        cost,
        // No signal (see TaskHandle), unless the caller aborted already, in onRequestStart: then the
        // client refuses it as it refuses any aborted task.
        signal: this.#controller.aborted ? AbortSignal.abort(this.#controller.reason) : undefined,
        key: this.#key,
      };
    } catch (error) {
      this.#end(error);
      return;
    }
    // Rejects before the task ran (queue full, client closed, aborted while queued, a bad priority or
    // weight) or while it runs (the client's timeout or the caller's abort, which also abort the real
    // request through the context's signal). The request's own failure rejects it too, after it was
    // forwarded: #end then does nothing.
    client[kScheduleRequest]((context) => this.#run(context), options, undefined, this).catch((error: unknown) => this.#end(error));
  }

  #run(context: InternalTaskContext): Promise<void> {
    // The shared executor, not a closure per request (see capture).
    const running = new Promise<void>(capture);
    this.#resolve = captured.resolve;
    this.#reject = captured.reject;
    captured.resolve = captured.reject = noop;
    this.#context = context;
    // The job's stop (its timeout, the caller's abort, a close without drain) aborts the real request:
    // told through kOnStop, with no AbortController made for the context's signal.
    this.#unlisten = context[kOnStop]((reason) => this.#controller.abort(reason as Error));
    if (this.#controller.aborted) {
      this.#finish(false, this.#controller.reason);
      return running;
    }
    try {
      this.#dispatch(this.#opts, this);
    } catch (error) {
      this.onResponseError(null, error as Error);
    }
    return running;
  }

  /** Settles the running task (once): its worker and permits are free from then. */
  #finish(ok: boolean, error?: unknown): void {
    const resolve = this.#resolve;
    if (resolve === null) return;
    this.#resolve = null;
    this.#unlisten();
    if (ok) resolve();
    else this.#reject(error);
  }

  /** Ends the caller's handler with `error` unless it has ended already; aborts the real request if running. */
  #end(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#resolve !== null) this.#controller.abort(error as Error);
    this.#handler.onResponseError?.(this.#controller, error as Error);
  }

  // The real request's events. `controller` here is the real one; the caller only ever sees ours.

  onRequestStart(controller: DispatchController): void {
    this.#controller.target = controller;
  }

  onResponseStart(_controller: DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    // The latest moment the server can have counted the request: its window slot is timed from here.
    this.#context?.[kSettleSlot]();
    if (this.#client !== null) publishResponseStatus(this.#client, statusCode);
    if (this.#metering !== undefined && this.#metered !== undefined) {
      const answer = { status: statusCode, headers: toHeaders(headers), request: this.#metered };
      this.#reader = this.#metering.heard(answer, this.#weight, this.#cost ?? null, this.#key);
    }
    if (this.#ended) return;
    this.#handler.onResponseStart?.(this.#controller, statusCode, headers, statusMessage);
  }

  onResponseData(_controller: DispatchController, chunk: Buffer): void {
    this.#reader = tapChunk(this.#reader, chunk);
    if (this.#ended) return;
    this.#handler.onResponseData?.(this.#controller, chunk);
  }

  onResponseEnd(_controller: DispatchController, trailers: Headers): void {
    // The body ended in full: its reading settles the cost while the task still holds its slot.
    if (this.#context !== null) this.#metering?.settle(this.#reader, this.#context);
    this.#reader = undefined;
    try {
      if (this.#ended) return;
      this.#ended = true;
      this.#handler.onResponseEnd?.(this.#controller, trailers);
    } finally {
      this.#finish(true);
    }
  }

  onResponseError(_controller: DispatchController | null, error: Error): void {
    this.#finish(false, error);
    if (this.#ended) return;
    this.#ended = true;
    this.#handler.onResponseError?.(this.#controller, error);
  }

  /**
   * The connection now belongs to the caller: the request is over for the limits (a WebSocket would
   * otherwise hold a worker for its life).
   */
  onRequestUpgrade(_controller: DispatchController, statusCode: number, headers: Headers, socket: Socket): void {
    this.#context?.[kSettleSlot]();
    try {
      if (this.#ended) return;
      this.#ended = true;
      this.#handler.onRequestUpgrade?.(this.#controller, statusCode, headers, socket);
    } finally {
      this.#finish(true);
    }
  }
}

/** undici's header object (values a string or several) as a Headers, for the meter. */
function toHeaders(headers: Headers): globalThis.Headers {
  const result = new globalThis.Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const each of value) result.append(name, each);
    else if (value !== undefined) result.append(name, value);
  }
  return result;
}

function noop(): void {}

/** What the shared executor took from the Promise constructor, until `#run` picks it up (synchronously). */
const captured: { resolve: () => void; reject: (error: unknown) => void } = { resolve: noop, reject: noop };
function capture(resolve: () => void, reject: (error: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}
