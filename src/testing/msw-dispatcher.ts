// MswDispatcher: an undici Dispatcher that answers from msw handlers, for testing code on the 'undici' transport.
import { STATUS_CODES } from 'node:http';
import { stringify } from 'node:querystring';
import { Agent, Dispatcher, errors } from 'undici';
import type { AnyHandler, RequestHandler } from 'msw';
import { getResponse } from './msw.js';

type DispatchOptions = Dispatcher.DispatchOptions;
type DispatchHandler = Dispatcher.DispatchHandler;
type ResponseHeaders = Record<string, string | string[]>;

/**
 * Where the msw handlers come from: a fixed list, or a `setupServer()` instance whose current
 * handlers (including `server.use()` overrides and `server.boundary()` scopes) are read per request.
 */
export type MswHandlerSource =
  | readonly AnyHandler[]
  | {
      /** The handlers in force now, `server.use()` overrides first (msw's `SetupServer` has it). */
      listHandlers(): readonly AnyHandler[];
    };

/** Options of `createMswDispatcher(handlers, options)`. */
export interface MswDispatcherOptions {
  /**
   * What to do with a request that no handler answers. `'error'` fails it with
   * {@link UnhandledRequestError}; `'bypass'` sends it to the real network through `bypassDispatcher`.
   * @default 'error'
   */
  onUnhandledRequest?: 'error' | 'bypass';
  /**
   * Sends bypassed requests, and requests whose handler answers with msw's `passthrough()`. It is
   * not closed by this dispatcher.
   * @default a private `new Agent()`, created on first use and closed with this dispatcher
   */
  bypassDispatcher?: Dispatcher;
}

const kUnhandled = Symbol.for('rate-limited-client.testing.UnhandledRequestError');

/** No msw handler answered the request and `onUnhandledRequest` is `'error'`. */
export class UnhandledRequestError extends Error {
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && kUnhandled in value;
  }

  /** `'UnhandledRequestError'`. */
  override name = 'UnhandledRequestError';
  /** `'RLC_ERR_MSW_UNHANDLED_REQUEST'`, stable across versions. */
  readonly code = 'RLC_ERR_MSW_UNHANDLED_REQUEST';
  /** The request's method, as dispatched. */
  readonly method: string;
  /** The request's full URL, query included. */
  readonly url: string;

  constructor(method: string, url: string) {
    super(`No msw handler answered ${method} ${url}. Add a handler for it, or pass onUnhandledRequest: 'bypass'.`);
    this.method = method;
    this.url = url;
    Object.defineProperty(this, kUnhandled, { value: true });
  }
}

/** Answers undici requests with msw request handlers, for code that uses the Dispatcher API. */
export function createMswDispatcher(handlers: MswHandlerSource, options: MswDispatcherOptions = {}): MswDispatcher {
  return new MswDispatcher(handlers, options);
}

/**
 * An undici Dispatcher that answers each request with msw request handlers, in this process, with no
 * socket: for the `'undici'` transport, which msw's `setupServer()` can not see. Response bodies stream
 * with backpressure; upgrade and CONNECT requests are refused. Made by {@link createMswDispatcher}.
 * @example new RateLimitedClient({ transport: 'undici', dispatcher: createMswDispatcher(server) })
 */
export class MswDispatcher extends Dispatcher {
  readonly #source: MswHandlerSource;
  readonly #options: MswDispatcherOptions;
  /** Requests this dispatcher still owns: from dispatch until settled or handed to the bypass dispatcher. */
  readonly #inFlight = new Set<MswController>();
  #agent: Agent | undefined;
  #state: 'open' | 'closed' | 'destroyed' = 'open';

  constructor(handlers: MswHandlerSource, options: MswDispatcherOptions = {}) {
    super();
    const mode = options.onUnhandledRequest;
    // The types already say so, but JavaScript callers and casts reach here unchecked.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (mode !== undefined && mode !== 'error' && mode !== 'bypass') {
      throw new TypeError(`Expected \`onUnhandledRequest\` to be 'error' or 'bypass', got \`${String(mode)}\` (${typeof mode})`);
    }
    this.#source = handlers;
    this.#options = options;
  }

  override dispatch(options: DispatchOptions, handler: DispatchHandler): boolean {
    const controller = new MswController(toControllerHandler(handler));
    if (this.#state !== 'open') {
      controller.fail(this.#state === 'closed' ? new errors.ClientClosedError() : new errors.ClientDestroyedError());
      return false;
    }
    // Like a socket being assigned: the handler gets its abort hook before any async work starts.
    controller.start();
    this.#inFlight.add(controller);
    // Tracked until settled, not until #respond returns: an aborted request whose msw handler never
    // returns (delay('infinite')) must not hold close() forever.
    void controller.finished.then(() => this.#inFlight.delete(controller));
    this.#respond(options, handler, controller).catch((error: unknown) => controller.fail(asError(error)));
    return true;
  }

  /**
   * Takes no new requests (they fail with undici's `ClientClosedError`) and resolves once the requests it
   * answers itself have ended; then closes its private bypass Agent, if it made one.
   */
  override close(): Promise<void>;
  /** As `close()`, calling `callback` when done. */
  override close(callback: () => void): void;
  override close(callback?: (error?: Error) => void): Promise<void> | void {
    if (this.#state === 'open') this.#state = 'closed';
    const done = this.#settled().then(() => this.#agent?.close());
    if (!callback) return done;
    callWhenSettled(done, callback);
  }

  /**
   * Fails the requests it is answering, and every new one, with undici's `ClientDestroyedError`, and
   * destroys its private bypass Agent, if it made one.
   */
  override destroy(): Promise<void>;
  /** As `destroy()`, failing the requests in progress with `err` (null: `ClientDestroyedError`). */
  // The overloads of undici's Dispatcher#destroy, one for one.
  // eslint-disable-next-line @typescript-eslint/unified-signatures
  override destroy(err: Error | null): Promise<void>;
  /** As `destroy()`, calling `callback` when done. */
  override destroy(callback: () => void): void;
  /** As `destroy(err)`, calling `callback` when done. */
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | ((error?: Error) => void), callback?: (error?: Error) => void): Promise<void> | void {
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const reason = (typeof errOrCallback === 'function' ? null : errOrCallback) ?? new errors.ClientDestroyedError();
    this.#state = 'destroyed';
    for (const controller of this.#inFlight) controller.fail(reason);
    const done = this.#settled().then(() => this.#agent?.destroy(reason));
    if (!cb) return done;
    callWhenSettled(done, cb);
  }

  async #settled(): Promise<void> {
    await Promise.all(Array.from(this.#inFlight, (controller) => controller.finished));
  }

  async #respond(options: DispatchOptions, original: DispatchHandler, controller: MswController): Promise<void> {
    if (options.upgrade || options.method === 'CONNECT') {
      throw new errors.NotSupportedError('MswDispatcher can not answer upgrade or CONNECT requests');
    }
    const url = requestUrl(options);
    const headers = toHeaders(options.headers);
    const body = await readBody(options.body, headers);
    if (controller.settled) return;

    // A Fetch Request can not carry a body on GET or HEAD, so a handler never sees one there.
    const hasBody = body !== null && options.method !== 'GET' && options.method !== 'HEAD';
    const request = new Request(url, {
      method: options.method,
      headers,
      signal: controller.signal,
      ...(hasBody ? { body } : {}),
    });
    // msw's bypass(request) marks a request that must reach the network untouched.
    const marked = request.headers.get('accept')?.includes('msw/passthrough') ?? false;
    const response = marked ? undefined : await getResponse(this.#handlers(), request);
    // An abort can settle it while getResponse() ran; the rule does not see changes across an await.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (controller.settled) return;

    if (marked || isPassthrough(response)) return this.#forward(options, body, original, controller);
    if (response === undefined) {
      if (this.#options.onUnhandledRequest === 'bypass') return this.#forward(options, body, original, controller);
      return controller.fail(new UnhandledRequestError(options.method, url));
    }
    if (response.type === 'error') {
      return controller.fail(
        new TypeError(`Network error: the msw handler for ${options.method} ${url} answered with HttpResponse.error()`),
      );
    }
    await streamResponse(response, options.method === 'HEAD', controller);
  }

  #handlers(): RequestHandler[] {
    const all = 'listHandlers' in this.#source ? this.#source.listHandlers() : this.#source;
    // `kind`, not instanceof: the ESM and CJS builds of msw each have their own RequestHandler class.
    return all.filter((handler): handler is RequestHandler => handler.kind === 'request');
  }

  #forward(options: DispatchOptions, body: Uint8Array | null, handler: DispatchHandler, controller: MswController) {
    controller.handOff();
    const target = this.#options.bypassDispatcher ?? (this.#agent ??= new Agent());
    // The body was consumed to build the Request; send the bytes that were read.
    target.dispatch({ ...options, body: body === null ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength) }, handler);
  }
}

/**
 * The controller an undici handler talks to for one request. Once `settled` is true the handler has
 * had its last callback (end, error or abort) and gets no more.
 */
class MswController implements Dispatcher.DispatchController {
  readonly #handler: DispatchHandler;
  /** Aborts the Fetch Request the msw handler sees, so handlers waiting on `request.signal` stop. */
  readonly #requestAbort = new AbortController();
  #reason: Error | null = null;
  #paused = false;
  #settled = false;
  /** Set only while the body pump waits for `resume()` (or for an abort). */
  #wake: (() => void) | null = null;
  #finish!: () => void;
  /** Resolves once `settled` turns true. */
  readonly finished = new Promise<void>((resolve) => (this.#finish = resolve));

  constructor(handler: DispatchHandler) {
    this.#handler = handler;
  }

  get aborted(): boolean {
    return this.#reason !== null;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }
  get settled(): boolean {
    return this.#settled;
  }
  get signal(): AbortSignal {
    return this.#requestAbort.signal;
  }

  abort(reason?: Error): void {
    if (this.#settled) return;
    this.#reason = reason ?? new errors.RequestAbortedError();
    this.fail(this.#reason);
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    this.#takeWake()?.();
  }

  /** Resolves when the consumer wants more data, or when the request has settled. */
  untilResumed(): Promise<void> {
    if (!this.#paused || this.#settled) return Promise.resolve();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  start(): void {
    this.#handler.onRequestStart?.(this, {});
  }
  responseStart(status: number, headers: ResponseHeaders, statusText: string): void {
    if (!this.#settled) this.#handler.onResponseStart?.(this, status, headers, statusText);
  }
  data(chunk: Buffer): void {
    if (!this.#settled) this.#handler.onResponseData?.(this, chunk);
  }
  end(): void {
    if (this.#settle()) this.#handler.onResponseEnd?.(this, {});
  }
  fail(error: Error): void {
    if (!this.#settle()) return;
    this.#requestAbort.abort(error);
    this.#handler.onResponseError?.(this, error);
  }
  /** The request now belongs to another dispatcher, which drives the same handler from here on. */
  handOff(): void {
    this.#settle();
  }

  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    this.#finish();
    this.#takeWake()?.();
    return true;
  }
  #takeWake(): (() => void) | null {
    const wake = this.#wake;
    this.#wake = null;
    return wake;
  }
}

/**
 * The callback form of close() and destroy(): called once `done` settles, with its error if it failed
 * (the bypass Agent's close() rejects once it was destroyed), as undici's own dispatchers do.
 */
function callWhenSettled(done: Promise<unknown>, callback: (error?: Error) => void): void {
  done.then(
    () => {
      callback();
    },
    (error: unknown) => {
      callback(error instanceof Error ? error : new Error(String(error)));
    },
  );
}

async function streamResponse(response: Response, isHead: boolean, controller: MswController): Promise<void> {
  controller.responseStart(
    response.status,
    toResponseHeaders(response.headers),
    response.statusText || (STATUS_CODES[response.status] ?? ''),
  );
  const reader: ReadableStreamDefaultReader<Uint8Array> | null | undefined = isHead ? null : response.body?.getReader();
  if (isHead) void response.body?.cancel();
  while (reader) {
    // Wait while paused so a slow consumer holds back the handler's stream (backpressure).
    await controller.untilResumed();
    if (controller.settled) return void reader.cancel(controller.reason ?? undefined).catch(() => {});
    const { done, value } = await reader.read();
    // An abort can settle it during the read; the rule does not see changes across an await.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (controller.settled) return void reader.cancel(controller.reason ?? undefined).catch(() => {});
    if (done) break;
    controller.data(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  controller.end();
}

/**
 * Adapts a legacy handler (onConnect, onHeaders, onData, onComplete, onError) to the controller API.
 * Those hooks are deprecated in undici's types, and this adapter is what serves the callers that still
 * use them.
 */
/* eslint-disable @typescript-eslint/no-deprecated */
function toControllerHandler(handler: DispatchHandler): DispatchHandler {
  if (typeof handler.onRequestStart === 'function' || typeof handler.onResponseStart === 'function') return handler;
  return {
    onRequestStart: (controller) => handler.onConnect?.((reason) => controller.abort(reason ?? new errors.RequestAbortedError())),
    onResponseStart: (controller, status, headers, statusText) => {
      const raw = Object.entries(headers).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).flatMap((item) => [Buffer.from(name, 'latin1'), Buffer.from(String(item), 'latin1')]),
      );
      if (handler.onHeaders?.(status, raw, () => controller.resume(), statusText ?? '') === false) controller.pause();
    },
    onResponseData: (controller, chunk) => {
      if (handler.onData?.(chunk) === false) controller.pause();
    },
    onResponseEnd: () => handler.onComplete?.([]),
    onResponseError: (_controller, error) => handler.onError?.(error),
  };
}
/* eslint-enable @typescript-eslint/no-deprecated */

function requestUrl({ origin, path, query }: DispatchOptions): string {
  if (origin === undefined) throw new errors.InvalidArgumentError('MswDispatcher needs an absolute `origin` on every request');
  // Joined as strings: new URL(path, origin) would let a path like `//other.host/x` change the host.
  const url = `${new URL(String(origin)).origin}${path}`;
  const search = query ? stringify(query) : '';
  return new URL(search ? `${url}${url.includes('?') ? '&' : '?'}${search}` : url).href;
}

/** undici takes headers as an object, a flat [name, value, …] array, or an iterable of pairs. */
function toHeaders(input: DispatchOptions['headers']): Headers {
  const headers = new Headers();
  const add = (name: unknown, value: unknown): void => {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item != null) headers.append(latin1(name), latin1(item));
    }
  };
  if (input == null) return headers;
  if (Array.isArray(input) && !Array.isArray(input[0])) {
    if (input.length % 2 !== 0) throw new errors.InvalidArgumentError('headers array must be even');
    for (let i = 0; i < input.length; i += 2) add(input[i], input[i + 1]);
  } else if (Symbol.iterator in input) {
    for (const [name, value] of input as Iterable<[string, unknown]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(input)) add(name, value);
  }
  return headers;
}

/** Reads the whole body: a Fetch Request needs it, and a bypassed request has to send it again. */
async function readBody(body: unknown, headers: Headers): Promise<Uint8Array | null> {
  if (body == null) return null;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return body;
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof Blob || Object.prototype.toString.call(body) === '[object FormData]') {
    // The global Response encodes undici's FormData as well as its own, boundary and all.
    const encoded = new Response(body as Blob | FormData);
    const type = encoded.headers.get('content-type');
    if (type && !headers.has('content-type')) headers.set('content-type', type);
    return new Uint8Array(await encoded.arrayBuffer());
  }
  if (typeof body === 'object' && (Symbol.asyncIterator in body || Symbol.iterator in body)) {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<unknown>)
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }
  throw new errors.InvalidArgumentError(`MswDispatcher can not read a request body of type ${Object.prototype.toString.call(body)}`);
}

/** Headers iterates set-cookie once per cookie; every other repeated header arrives joined with ", ". */
function toResponseHeaders(headers: Headers): ResponseHeaders {
  const out: ResponseHeaders = {};
  for (const [name, value] of headers) {
    const previous = out[name];
    out[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return out;
}

function isPassthrough(response: Response | undefined): boolean {
  return response?.status === 302 && response.headers.get('x-msw-intention') === 'passthrough';
}

function latin1(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
