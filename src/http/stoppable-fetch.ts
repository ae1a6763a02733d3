// A fetch that a job's stop ends without an AbortSignal: for the 'fetch' transport and client.fetch.
import type { Dispatcher } from 'undici';
import type { HeaderReader } from '../retry/rate-limit-headers.js';
import type { StopListener } from './attempt-stop.js';
import { RawHeaders } from './raw-headers.js';

/** fetch's handler as it reaches a dispatcher: undici's older callback API (Node 20's undici 6 and undici 7 alike). */
interface LegacyHandler {
  onConnect?: (abort: (reason: Error) => void, context?: unknown) => void;
  onHeaders?: (statusCode: number, rawHeaders: RawHeaderLines, resume: () => void, statusText: string) => boolean;
  /** The StoppableFetch that passed this handler on, and the handler's own two callbacks it taps (see `dispatch`). */
  [kFetching]?: StoppableFetch;
  [kOnConnect]?: LegacyHandler['onConnect'];
  [kOnHeaders]?: LegacyHandler['onHeaders'];
}

type RawHeaderLines = Array<Buffer | string>;

const kFetching = Symbol('rate-limited-client.stoppableFetch');
const kOnConnect = Symbol('rate-limited-client.onConnect');
const kOnHeaders = Symbol('rate-limited-client.onHeaders');

/**
 * One fetch, stopped without an AbortSignal: a signal given to fetch costs a linked signal, a WeakRef,
 * a finalizer and listeners per request (raw fetch with one does ~0.86x raw fetch without, loopback, 32
 * in flight), so fetch gets none. It is fetch's dispatcher instead, and passes the request on to the
 * real one, keeping the abort function undici hands fetch's handler: a stop or a `drop()` aborts the
 * request there, which destroys the connection and fails a read of the body, as a signal would. A stop
 * before the response rejects at once (fetch may still wait for a socket), and a response that comes
 * after it is dropped. A patched fetch (msw) that never dispatches is stopped as far as it can be: the
 * caller is answered at once, and a late body is cancelled.
 *
 * On the way it keeps the response's raw header lines, which the client reads far more cheaply than
 * the `Response`'s `Headers` (see `headersOf`).
 */
export class StoppableFetch implements StopListener {
  /** Set once stopped: a response that comes later is dropped. */
  stopped = false;
  readonly #dispatcher: Dispatcher;
  /** The fetch's promise, until it settles or is stopped. */
  #reject: ((error: unknown) => void) | undefined = undefined;
  /** undici's abort of the request, once it is on a socket; `#reason` is why it must go, once it must. */
  #abort: ((reason: Error) => void) | undefined = undefined;
  #reason: unknown = undefined;
  #response: Response | undefined = undefined;
  /** The last final (>= 200) response's raw header lines that passed through `dispatch`. */
  #rawHeaders: RawHeaderLines | undefined = undefined;

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  /** The global fetch (looked up now) on this fetch's dispatcher; `init` is a record fetch may keep. */
  fetch(input: string | URL | Request, init: Record<string, unknown>): Promise<Response> {
    // fetch uses `dispatch` of its dispatcher, and `isMockActive` (a MockAgent's): this object has both.
    init.dispatcher = this;
    if (this.stopped) return Promise.reject(this.#reason);
    return new Promise((resolve, reject) => {
      this.#reject = reject;
      globalThis.fetch(input, init).then(
        (response) => {
          this.#response = response;
          this.#reject = undefined;
          if (this.stopped) this.drop(this.#reason);
          else resolve(response);
        },
        (error: unknown) => {
          this.#reject = undefined;
          reject(error);
        },
      );
    });
  }

  /**
   * What the client reads of `response`'s headers: the raw lines it came with when it came through this
   * dispatcher, else (a patched fetch answered) its `Headers`.
   */
  headersOf(response: Response): HeaderReader {
    return this.#rawHeaders === undefined ? response.headers : new RawHeaders(this.#rawHeaders);
  }

  /** True when a response came through `dispatch`: the real fetch sent the request, not a patched one. */
  get dispatched(): boolean {
    return this.#rawHeaders !== undefined;
  }

  /** The job was told to stop: the caller hears it now, the request goes as soon as it can. */
  onStop(reason: unknown): void {
    this.stopped = true;
    this.drop(reason);
    const reject = this.#reject;
    this.#reject = undefined;
    reject?.(this.#reason);
  }

  /** Ends the request and its body for `reason`: on its connection, else (a patched fetch) by cancelling the body. */
  drop(reason?: unknown): void {
    this.#reason ??= reason ?? new DOMException('This operation was aborted', 'AbortError');
    if (this.#abort !== undefined) {
      this.#abort(this.#reason as Error);
      return;
    }
    const body = this.#response?.body;
    if (body !== undefined && body !== null && !body.locked) body.cancel(this.#reason).catch(() => {});
  }

  /** A MockAgent's flag, as fetch reads it of its dispatcher. */
  get isMockActive(): boolean | undefined {
    return (this.#dispatcher as { isMockActive?: boolean }).isMockActive;
  }

  /** Called by fetch: the request goes on to the real dispatcher, with fetch's handler tapped for its abort and headers. */
  dispatch(options: Dispatcher.DispatchOptions, handler: LegacyHandler): boolean {
    // Functions shared by every fetch, not closures made for each: the handler keeps what they need.
    handler[kFetching] = this;
    handler[kOnConnect] = handler.onConnect;
    handler[kOnHeaders] = handler.onHeaders;
    handler.onConnect = StoppableFetch.#connected;
    handler.onHeaders = StoppableFetch.#heard;
    return this.#dispatcher.dispatch(options, handler);
  }

  static readonly #connected = function (this: LegacyHandler, abort: (reason: Error) => void, context?: unknown): void {
    const fetching = this[kFetching] as StoppableFetch;
    fetching.#abort = abort;
    this[kOnConnect]?.(abort, context);
    if (fetching.#reason !== undefined) abort(fetching.#reason as Error);
  };

  static readonly #heard = function (
    this: LegacyHandler,
    statusCode: number,
    rawHeaders: RawHeaderLines,
    resume: () => void,
    statusText: string,
  ): boolean {
    // Informational responses (1xx) are not the response.
    if (statusCode >= 200) (this[kFetching] as StoppableFetch).#rawHeaders = rawHeaders;
    return this[kOnHeaders]?.(statusCode, rawHeaders, resume, statusText) ?? true;
  };
}
