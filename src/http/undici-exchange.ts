// One request through undici's dispatch API: the handler undici drives, and the response it becomes.
import type { Dispatcher } from 'undici';
import type { AttemptStop, StopListener } from './attempt-stop.js';
import { type IncomingHttpHeaders, ResponseHeaders } from './response-headers.js';
import type { TransportResponse } from './transport.js';

type Controller = Dispatcher.DispatchController;

/** Bytes a body may hold that nobody reads yet before the socket is paused (undici's own body's default). */
const HIGH_WATER_MARK = 64 * 1024;

const OPEN = 0;
const ENDED = 1;
const FAILED = 2;

/** A read waiting for the body: all of it (`bytes()`), or its next chunk (the stream). */
type Waiting =
  | { readonly whole: true; readonly resolve: (bytes: Uint8Array) => void; readonly reject: (error: unknown) => void }
  | { readonly whole: false; readonly resolve: (next: IteratorResult<Uint8Array>) => void; readonly reject: (error: unknown) => void };

/**
 * A dispatch handler that is also the response it answers with: no `undici.request()` layer (its
 * Readable body, its signal listener, its promise), no AbortController. The body is kept as the chunks
 * undici hands over until the HTTP layer says how it wants it: whole (`bytes()`, the common case, where
 * the chunks are joined once at the end) or as a stream, paused past a high-water mark.
 *
 * A stop before the response (the job's timeout or the caller's abort) rejects at once, even before
 * the request has a socket, which undici would only heed once it has (nodejs/undici#386); the request
 * is aborted as soon as undici gives it a controller. A stop or a `discard()` after the headers aborts
 * through undici's controller, which destroys the connection.
 */
export class UndiciExchange implements Dispatcher.DispatchHandler, TransportResponse, StopListener {
  status = 0;
  statusText = '';
  headers: ResponseHeaders = NO_HEADERS;
  readonly url: URL;
  /** undici's handle on the request, from when it is on a socket (it may start over on another). */
  #controller: Controller | undefined = undefined;
  /** The send's promise, until the headers (or a failure) settle it; unset after. */
  #resolve: ((response: TransportResponse) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  #state: typeof OPEN | typeof ENDED | typeof FAILED = OPEN;
  /** Why it failed, once FAILED. */
  #error: unknown = undefined;
  /** Chunks received and not yet read, `#buffered` bytes in all. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Set by `bytes()`: the body is read whole, so the socket is never paused for it. */
  #whole = false;
  #waiting: Waiting | undefined = undefined;

  constructor(url: URL, resolve: (response: TransportResponse) => void, reject: (error: unknown) => void) {
    this.url = url;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Sends it on `dispatcher`, stopped by `stop`. */
  start(
    dispatcher: Dispatcher,
    headers: Record<string, string>,
    method: string,
    body: string | Uint8Array | undefined,
    stop: AttemptStop,
  ): void {
    stop.on(this);
    if (this.#state !== OPEN) return;
    const { url } = this;
    dispatcher.dispatch({ origin: url.origin, path: url.pathname + url.search, method, headers, body: body ?? null }, this);
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    // Stopped while it waited for a socket: it was rejected already, and now it can be aborted.
    if (this.#state === FAILED) controller.abort(this.#error as Error);
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (statusCode < 200 || this.#state !== OPEN) return; // 1xx: informational, the response is still to come
    this.status = statusCode;
    this.statusText = statusMessage ?? '';
    this.headers = new ResponseHeaders(headers);
    const resolve = this.#resolve;
    this.#resolve = this.#reject = undefined;
    resolve?.(this);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#state !== OPEN) return;
    const waiting = this.#waiting;
    if (waiting !== undefined && !waiting.whole) {
      this.#waiting = undefined;
      waiting.resolve({ done: false, value: chunk });
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    if (!this.#whole && this.#buffered >= HIGH_WATER_MARK) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    if (waiting.whole) waiting.resolve(this.#take());
    else waiting.resolve({ done: true, value: undefined });
  }

  onResponseError(_controller: Controller, error: Error): void {
    this.#fail(error);
  }

  /** The job was told to stop: the request ends now, whatever undici is doing with it. */
  onStop(reason: unknown): void {
    if (this.#state !== OPEN) return;
    this.#fail(reason);
    this.#controller?.abort(reason as Error);
  }

  webHeaders(): Headers {
    return this.headers.toHeaders();
  }

  discard(reason?: unknown): void {
    if (this.#state !== OPEN) return;
    const error = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.#fail(error);
    this.#controller?.abort(error as Error);
  }

  bytes(): Promise<Uint8Array> {
    if (this.#state === ENDED) return Promise.resolve(this.#take());
    if (this.#state === FAILED) return Promise.reject(this.#error);
    this.#whole = true;
    this.#controller?.resume();
    return new Promise((resolve, reject) => {
      this.#waiting = { whole: true, resolve, reject };
    });
  }

  /** The body as the chunks come, read one at a time; leaving a loop over it early drops the connection. */
  get body(): AsyncIterable<Uint8Array> {
    const iterator: AsyncIterator<Uint8Array> = {
      next: () => this.#next(),
      return: () => {
        this.discard();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  #next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      this.#buffered -= chunk.byteLength;
      if (this.#buffered < HIGH_WATER_MARK) this.#controller?.resume();
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.#state === ENDED) return Promise.resolve({ done: true, value: undefined });
    if (this.#state === FAILED) return Promise.reject(this.#error);
    this.#controller?.resume();
    return new Promise((resolve, reject) => {
      this.#waiting = { whole: false, resolve, reject };
    });
  }

  /** Every chunk not yet read, as one array: undici's own chunk when there is one (no copy). */
  #take(): Uint8Array {
    const chunks = this.#chunks;
    this.#chunks = [];
    const length = this.#buffered;
    this.#buffered = 0;
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
  }

  #fail(error: unknown): void {
    if (this.#state !== OPEN) return;
    this.#state = FAILED;
    this.#error = error;
    this.#chunks = [];
    this.#buffered = 0;
    const reject = this.#reject ?? this.#waiting?.reject;
    this.#resolve = this.#reject = this.#waiting = undefined;
    reject?.(error);
  }
}

const NO_HEADERS = new ResponseHeaders({});
