// The HTTP layer: a request as scheduled attempts, with retries, redirects, timeouts and server feedback.
import { Agent, type Dispatcher } from 'undici';
import type { Cost } from '../core/cost.js';
import { type InternalTaskContext, kSeq, kSettleSlot } from '../core/internal.js';
import type { MeterRefusal, MeterRequest, MeterResponse, UsageReader } from '../core/meter.js';
import type { ScheduleOptions } from '../core/options.js';
import { boolean, knownKeys, plainObject } from '../core/validate.js';
import { HttpError } from '../errors/http-error.js';
import { NetworkError } from '../errors/network-error.js';
import { FetchTransport } from './fetch-transport.js';
import type { RequestOptions } from './options.js';
import { type PreparedRequest, prepareRequest } from './prepare-request.js';
import { HttpResponse } from './response.js';
import { displayUrl, redactHeaders } from './secrets.js';
import { MAX_REDIRECTS, Redirect, redirectTarget } from './redirect.js';
import { readPrefix, type Transport, type TransportResponse, watchedStream } from './transport.js';
import { UndiciTransport } from './undici-transport.js';
import { type HeaderReader, readServerLimits, refusesForRate, usedUp } from '../retry/rate-limit-headers.js';
import { DEFAULT_RETRY, type NormalizedRetry, normalizeRetry } from '../retry/retry-options.js';
import { retryDelay } from '../retry/retry-policy.js';
import { bodyText, Metering, tapChunk } from './metering.js';
import { AttemptStop } from './attempt-stop.js';
import type { HttpHooks, NormalizedHttpOptions } from './http-options.js';
import { ServerListener } from './server-listener.js';

/** How much of an error response's body an HttpError keeps. */
export const BODY_PREVIEW_BYTES = 4096;
/** How long an error response's body may take to give its preview before it is cut off. */
export const PREVIEW_MAX_MS = 1_000;
const REQUEST_KEYS = [
  'method',
  'path',
  'query',
  'headers',
  'json',
  'body',
  'priority',
  'weight',
  'cost',
  'signal',
  'timeoutMs',
  'maxWaitMs',
  'key',
  'throwHttpErrors',
  'idempotencyKey',
  'stream',
  'retry',
] as const;

interface AttemptOptions {
  readonly throwHttpErrors: boolean;
  readonly stream: boolean;
  readonly scheduling: ScheduleOptions;
  readonly retry: NormalizedRetry | false;
  /** The request as the meter sees it, or undefined without a meter. */
  readonly metered: MeterRequest | undefined;
}

/** A response at its headers, with what the attempt needs to finish it. */
type Sent = TransportResponse & {
  stop: AttemptStop;
  /** The meter's reader of the body, if it reads one. */
  reader: UsageReader | undefined;
};

/**
 * HTTP requests through the client's scheduler. A request takes its slot when it is dispatched and
 * settles it when its response headers arrive; its body is read in full inside the same attempt (and
 * its time limit), so a worker and a permit are held exactly as long as the connection is busy.
 */
export class HttpLayer {
  readonly #options: NormalizedHttpOptions;
  readonly #hooks: HttpHooks;
  readonly #transport: Transport;
  /** The keep-alive Agent this layer made and owns (closed with the client); created on first use. */
  #agent: Dispatcher | undefined = undefined;
  /** The client's meter, for every entry point (`client.fetch` and the interceptor use it too). */
  readonly metering: Metering;
  /** Acts on what responses say of the server's limits. */
  readonly #listener: ServerListener;

  constructor(options: NormalizedHttpOptions, hooks: HttpHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.metering = new Metering(options.meter, {
      currencies: () => hooks.currencies(),
      setServerBudget: (remaining, resetMs, carried, currency, refill, key) =>
        hooks.setServerBudget(remaining, resetMs, carried, currency, refill, key),
      maxWaitMs: (options.retry || DEFAULT_RETRY).maxRetryAfterMs,
    });
    this.#listener = new ServerListener(options, hooks);
    const dispatcher = () => this.dispatcher;
    this.#transport = options.transport === 'undici' ? new UndiciTransport(dispatcher) : new FetchTransport(dispatcher);
  }

  /** The user's dispatcher, or the client's own keep-alive Agent. Redirects are followed above it. */
  get dispatcher(): Dispatcher {
    if (this.#options.dispatcher !== undefined) return this.#options.dispatcher;
    this.#agent ??= new Agent({ keepAliveTimeout: 4_000 });
    return this.#agent;
  }

  request(input: RequestOptions): Promise<HttpResponse> {
    let prepared: PreparedRequest;
    let options: RequestOptions;
    let retry: NormalizedRetry | false;
    try {
      options = plainObject('options', input) as unknown as RequestOptions;
      knownKeys('', options as unknown as Record<string, unknown>, REQUEST_KEYS);
      prepared = prepareRequest(options, this.#options);
      for (const flag of ['throwHttpErrors', 'stream'] as const) {
        if (options[flag] !== undefined) boolean(flag, options[flag]);
      }
      retry = normalizeRetry('retry', options.retry, this.#options.retry);
    } catch (error) {
      return Promise.reject(error);
    }
    const throwHttpErrors = options.throwHttpErrors ?? true;
    const metered = this.metering.active ? { method: prepared.method, url: prepared.url.href, body: bodyText(prepared.body) } : undefined;
    const scheduling: ScheduleOptions = {
      priority: options.priority,
      weight: options.weight,
      cost: (metered === undefined ? options.cost : this.metering.cost(metered, options.cost)) as Cost | undefined,
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? this.#options.timeoutMs,
      maxWaitMs: options.maxWaitMs,
      key: options.key,
    };
    return this.#follow(prepared, { throwHttpErrors, stream: options.stream === true, scheduling, retry, metered });
  }

  /**
   * Sends the request and follows redirects itself, each hop a new request through the limiter: the
   * server counts every hop, so the windows must too. A hop that would leave `baseUrl` is not followed
   * (unless `allowAbsoluteUrls`): the 3xx comes back as the answer. Secret headers never go to another
   * origin.
   */
  async #follow(request: PreparedRequest, how: AttemptOptions): Promise<HttpResponse> {
    const attempt: Attempt = { hops: 0, retried: 0, seq: undefined };
    const send = () => (how.stream ? this.#streamed(request, how, attempt) : this.#buffered(request, how, attempt));
    // Between an attempt and its retry or next hop the request is in no queue: onIdle() and a draining
    // close() must wait for it anyway.
    const release = this.#hooks.hold();
    try {
      let next = send();
      for (;;) {
        let outcome: HttpResponse | Redirect;
        try {
          outcome = await next;
        } catch (error) {
          let delay = retryDelay(how.retry, error, request.method, request.headers['idempotency-key'] !== undefined, attempt.retried);
          // A bare refusal the client now cools down and paces for: the retry waits in the queue, held by
          // those, not on a backoff of its own that would leave it behind (and the quota unused).
          if (delay !== undefined && paced.has(error as object) && (error as HttpError).retryAfterMs === undefined) delay = 0;
          if (delay === undefined || how.scheduling.signal?.aborted) throw error;
          attempt.retried++;
          this.#hooks.retrying({
            retry: attempt.retried,
            delayMs: delay,
            method: request.method,
            url: displayUrl(request.url),
            error: error as Error,
          });
          // The wait holds no worker and no permit; then the retry re-enters the queue with its
          // original place among equal priorities, and counts in the windows like any request.
          next = this.#hooks.retryAfter(delay, how.scheduling.signal, send);
          continue;
        }
        if (!(outcome instanceof Redirect)) return outcome;
        request = outcome.next;
        attempt.hops++;
        next = send();
      }
    } finally {
      release();
    }
  }

  #buffered(request: PreparedRequest, how: AttemptOptions, attempt: Attempt): Promise<HttpResponse | Redirect> {
    return this.#hooks.schedule(
      async (context) => {
        attempt.seq ??= context[kSeq];
        const response = await this.#send(request, context, how, attempt.hops);
        if (response instanceof Redirect) return response;
        let body: Uint8Array;
        try {
          body = await response.bytes();
        } catch (error) {
          throw failure(request, response.stop, error);
        }
        if (response.reader !== undefined) this.metering.settle(tapChunk(response.reader, body), context);
        return new HttpResponse(response.status, response.statusText, () => response.webHeaders(), displayUrl(response.url), body);
      },
      how.scheduling,
      attempt.seq,
    );
  }

  /**
   * The caller gets the response at its headers, with the live body; the attempt (its worker, permit
   * and time limit) lasts until that body has ended, failed or been cancelled. A body nobody reads is
   * cut off by the timeout, which frees the slot and the socket; cancelling it aborts the request.
   */
  #streamed(request: PreparedRequest, how: AttemptOptions, attempt: Attempt): Promise<HttpResponse | Redirect> {
    return new Promise((resolve, reject) => {
      this.#hooks
        .schedule(
          async (context) => {
            attempt.seq ??= context[kSeq];
            const response = await this.#send(request, context, how, attempt.hops);
            if (response instanceof Redirect) return resolve(response);
            await new Promise<void>((settled) => {
              const source = response.reader === undefined ? response.body : this.#metered(response.body, response.reader, context);
              const body = watchedStream(source, response.stop, settled, (reason) => response.discard(reason));
              resolve(new HttpResponse(response.status, response.statusText, () => response.webHeaders(), displayUrl(response.url), body));
            });
          },
          how.scheduling,
          attempt.seq,
        )
        .catch(reject); // after resolve() this is a no-op: the body stream carries any later error
    });
  }

  /** A streamed body as it passes to the caller, each chunk shown to the meter's reader; its end settles the cost. */
  async *#metered(body: AsyncIterable<Uint8Array> | null, reader: UsageReader, context: InternalTaskContext): AsyncIterable<Uint8Array> {
    let watching: UsageReader | undefined = reader;
    for await (const chunk of body ?? []) {
      watching = tapChunk(watching, chunk);
      yield chunk;
    }
    this.metering.settle(watching, context);
  }

  /** See ServerListener#listen: what a response says of the server's limits, acted on. */
  listen(headers: HeaderReader, status: number, url: URL | string, weight: number, refusal?: MeterRefusal, key?: string): boolean {
    return this.#listener.listen(headers, status, url, weight, refusal, key);
  }

  /**
   * Ends the client's own connections. Called once the scheduler is idle, which each request holds off
   * from its first attempt to its answer (`hold()`), so a draining close never cuts a retry or a redirect
   * hop. Destroyed, not closed: a `client.fetch` body the caller never read would keep a graceful close
   * waiting forever.
   */
  async close(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.destroy();
  }

  /**
   * Sends one attempt and waits for its response headers, which settle its window slot. A status the
   * caller does not want becomes an HttpError with a bounded preview of the body.
   */
  async #send(request: PreparedRequest, context: InternalTaskContext, how: AttemptOptions, hops: number): Promise<Sent | Redirect> {
    // The job's stop is the caller's abort and the timeout, heard without the AbortController that
    // `context.signal` would make. A body this attempt has no use for (a redirect's, a stalled error
    // preview, a cancelled stream) is dropped with `discard()`, which does not stop the task.
    const stop = new AttemptStop(context);
    let response: TransportResponse;
    try {
      response = await this.#transport.send(request, stop);
    } catch (error) {
      throw failure(request, stop, error);
    }
    context[kSettleSlot]();
    const weight = how.scheduling.weight ?? 1;
    // A refusal's cooldown waits for its body when the meter reads what it was for (tokens, or a spent quota).
    const readRefusal = how.throwHttpErrors && this.metering.readsRefusals && refusesForRate(response.status);
    const key = how.scheduling.key;
    let bare = readRefusal ? false : this.listen(response.headers, response.status, response.url, weight, undefined, key);
    const metered: MeterResponse | undefined =
      how.metered === undefined ? undefined : { status: response.status, headers: response.webHeaders(), request: how.metered };
    const reader = metered === undefined ? undefined : this.metering.heard(metered, weight, how.scheduling.cost ?? null, key);
    const next = hops < MAX_REDIRECTS ? redirectTarget(request, response, this.#options) : undefined;
    if (next !== undefined) {
      // The redirect's body is of no use: drop it (and its connection) rather than wait for it.
      response.discard();
      return new Redirect(next);
    }
    if (how.throwHttpErrors && (response.status < 200 || response.status > 299)) {
      // A preview for the error, but not at any price: a body that stalls is cut off after a moment.
      const cutOff = setTimeout(() => response.discard(), PREVIEW_MAX_MS);
      const preview = await readPrefix(response.body, BODY_PREVIEW_BYTES).catch(() => new Uint8Array());
      clearTimeout(cutOff);
      response.discard();
      const headers = redactHeaders(response.webHeaders(), this.#options.secretHeaders);
      // The error's response carries the redacted headers too: it is reachable from the error.
      const partial = new HttpResponse(response.status, response.statusText, new Headers(headers), displayUrl(response.url), preview);
      const bodyPreview = await partial.text();
      const refusal = readRefusal && metered !== undefined ? this.metering.refusal(metered, bodyPreview) : undefined;
      if (readRefusal) bare = this.listen(response.headers, response.status, response.url, weight, refusal ?? {}, key);
      const error = new HttpError(partial, request.method, headers, bodyPreview, this.#ownWait(response, bodyPreview), refusal?.fatal);
      if (bare) paced.add(error);
      throw error;
    }
    return Object.assign(response, { stop, reader });
  }

  /**
   * What a refused request's own retry must wait: the server's Retry-After, or the time until the
   * quota that refused it resets. Read from every header whatever quota it names (`listen` reads only
   * the client's own GitHub resource): a search refused for the search quota waits for that one.
   */
  #ownWait(response: TransportResponse, bodyPreview: string): number | undefined {
    const own = readServerLimits(response.headers, Date.now(), this.#options.adaptive ? this.#options.adaptive.resetMode : 'auto', null);
    return own.retryAfterMs ?? (usedUp(response.status, own, bodyPreview) ? own.resetMs : undefined);
  }
}

/** A transport's failure as the caller gets it: the stop's reason as it is, anything else a NetworkError. */
function failure(request: PreparedRequest, stop: AttemptStop, error: unknown): unknown {
  return stop.stopped ? error : new NetworkError(request.method, displayUrl(request.url), error);
}

/** Refusals that said nothing, which the client now cools down and paces for (see #follow). */
const paced = new WeakSet<object>();

/** Where a request is in its life: redirect hops followed, retries made, its place in the queue. */
interface Attempt {
  hops: number;
  retried: number;
  /** The first attempt's submission order, kept by every later attempt. */
  seq: number | undefined;
}
