// The 'fetch' transport: requests through the global fetch (so msw sees them), on the client's dispatcher.
import type { Dispatcher } from 'undici';
import type { AttemptStop, StopListener } from './attempt-stop.js';
import type { PreparedRequest } from './prepare-request.js';
import type { Transport, TransportResponse } from './transport.js';

/**
 * Sends through the global `fetch`, looked up at every call: msw's `setupServer` (and anything else
 * that patches fetch) sees every request with no extra set-up. Node's fetch is undici's, so the
 * client's keep-alive undici Agent is passed as its `dispatcher` for connection pooling.
 */
export class FetchTransport implements Transport {
  readonly #dispatcher: () => Dispatcher;

  constructor(dispatcher: () => Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  send(request: PreparedRequest, stop: AttemptStop): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      const exchange = new FetchExchange(this.#dispatcher(), resolve, reject);
      stop.on(exchange);
      if (!exchange.stopped) exchange.start(request);
    });
  }
}

/**
 * One fetch, stopped without an AbortSignal: a signal given to fetch costs a linked signal, a WeakRef,
 * a finalizer and listeners per request (~14 % of fetch's throughput on loopback, measured), so fetch
 * gets none. It gets a dispatcher of this exchange's instead, which passes the request on to the
 * client's and keeps the abort function undici hands the request's handler: a stop or a `discard()`
 * aborts the request there, which destroys the connection, as a signal would. A stop before the
 * response rejects at once (fetch may still be waiting for a socket), and a response that comes after
 * it is dropped. A patched fetch (msw) that never dispatches is stopped as far as it can be: the caller
 * is answered at once, and a late body is cancelled.
 */
class FetchExchange implements StopListener {
  /** Set once stopped or settled with a failure: what comes later is dropped. */
  stopped = false;
  readonly #dispatcher: Dispatcher;
  /** The send's promise, until the headers settle it. */
  #resolve: ((response: TransportResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  /** undici's abort of the request, once it is on a socket; `#reason` is why it must go, once it must. */
  #abort: ((reason: Error) => void) | undefined = undefined;
  #reason: unknown = undefined;
  #response: Response | undefined = undefined;

  constructor(dispatcher: Dispatcher, resolve: (response: TransportResponse) => void, reject: (error: unknown) => void) {
    this.#dispatcher = dispatcher;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(request: PreparedRequest): void {
    // A record, not a RequestInit: `dispatcher` is undici's extension of RequestInit, and Node's own
    // types name an older undici's. fetch uses `dispatch` of it, and `isMockActive` (a MockAgent's).
    const init: Record<string, unknown> = {
      method: request.method,
      headers: request.headers,
      dispatcher: {
        dispatch: (options: Dispatcher.DispatchOptions, handler: LegacyHandler) => this.#dispatch(options, handler),
        isMockActive: (this.#dispatcher as { isMockActive?: boolean }).isMockActive,
      },
      // The HTTP layer follows redirects itself, so that each hop is counted and secrets stay home.
      redirect: 'manual',
    };
    if (request.body !== undefined) init.body = request.body;
    globalThis.fetch(request.url, init).then(
      (response) => this.#answered(request, response),
      (error: unknown) => {
        const reject = this.#reject;
        this.#resolve = this.#reject = undefined;
        reject?.(error);
      },
    );
  }

  /** The job was told to stop: the caller hears it now, the request goes as soon as it can. */
  onStop(reason: unknown): void {
    this.stopped = true;
    const reject = this.#reject;
    this.#resolve = this.#reject = undefined;
    reject?.(reason);
    this.#drop(reason);
  }

  #dispatch(options: Dispatcher.DispatchOptions, handler: LegacyHandler): boolean {
    // fetch's handler takes undici's abort in onConnect (Node 20's undici 6 and undici 7 alike).
    const onConnect = handler.onConnect;
    handler.onConnect = (abort, context) => {
      this.#abort = abort;
      onConnect?.call(handler, abort, context);
      if (this.#reason !== undefined) abort(this.#reason as Error);
    };
    return this.#dispatcher.dispatch(options, handler);
  }

  #answered(request: PreparedRequest, response: Response): void {
    this.#response = response;
    const resolve = this.#resolve;
    this.#resolve = this.#reject = undefined;
    if (resolve === undefined) {
      this.#drop(this.#reason); // stopped before its headers
      return;
    }
    const { headers } = response;
    resolve({
      status: response.status,
      statusText: response.statusText,
      headers,
      webHeaders: () => headers,
      // Redirects are not followed here, so the URL is the request's, already parsed; a patched fetch
      // (msw) may still answer with another, or none.
      url: response.url === request.url.href ? request.url : response.url ? new URL(response.url) : request.url,
      body: response.body as AsyncIterable<Uint8Array> | null,
      // fetch's own reader: iterating the web stream costs a promise and a result object per chunk.
      bytes: async () => new Uint8Array(await response.arrayBuffer()),
      discard: (reason) => this.#drop(reason ?? new DOMException('This operation was aborted', 'AbortError')),
    });
  }

  /** Ends the request and its body for `reason`: on its connection, else (a patched fetch) by cancelling the body. */
  #drop(reason: unknown): void {
    this.#reason ??= reason ?? new DOMException('This operation was aborted', 'AbortError');
    if (this.#abort !== undefined) {
      this.#abort(this.#reason as Error);
      return;
    }
    const body = this.#response?.body;
    if (body !== undefined && body !== null && !body.locked) body.cancel(this.#reason).catch(() => {});
  }
}

/** fetch's handler as it reaches a dispatcher: undici's older callback API. */
interface LegacyHandler {
  onConnect?: (abort: (reason: Error) => void, context?: unknown) => void;
}
