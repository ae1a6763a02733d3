// The 'fetch' transport: requests through the global fetch (so msw sees them), on the client's dispatcher.
import type { Dispatcher } from 'undici';
import type { AttemptStop } from './attempt-stop.js';
import type { PreparedRequest } from './prepare-request.js';
import { StoppableFetch } from './stoppable-fetch.js';
import type { HeaderReader } from '../retry/rate-limit-headers.js';
import type { Transport, TransportResponse } from './transport.js';

/**
 * Sends through the global `fetch`, looked up at every call: msw's `setupServer` (and anything else
 * that patches fetch) sees every request with no extra set-up. Node's fetch is undici's, so the
 * client's keep-alive undici Agent is its dispatcher, for connection pooling; the attempt's stop and
 * `discard()` abort the request through it, with no AbortSignal (see StoppableFetch).
 */
export class FetchTransport implements Transport {
  readonly #dispatcher: () => Dispatcher;

  constructor(dispatcher: () => Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  async send(request: PreparedRequest, stop: AttemptStop): Promise<TransportResponse> {
    const fetching = new StoppableFetch(this.#dispatcher());
    stop.on(fetching);
    // A record, not a RequestInit: `dispatcher` is undici's extension of RequestInit, and Node's own
    // types name an older undici's.
    const init: Record<string, unknown> = {
      // The HTTP layer follows redirects itself, so that each hop is counted and secrets stay home.
      redirect: 'manual',
    };
    // What fetch would take as it is (a GET, no headers) is left out: fetch checks and copies each field.
    if (request.method !== 'GET') init.method = request.method;
    if (hasAny(request.headers)) init.headers = request.headers;
    if (request.body !== undefined) init.body = request.body;
    const response = await fetching.fetch(request.url, init);
    return new FetchResponse(response, fetching, request.url);
  }
}

function hasAny(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}

/** fetch's response as the HTTP layer reads it: methods, not closures made for every response. */
class FetchResponse implements TransportResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: HeaderReader;
  readonly url: URL;
  readonly body: AsyncIterable<Uint8Array> | null;
  readonly #response: Response;
  readonly #fetching: StoppableFetch;

  constructor(response: Response, fetching: StoppableFetch, requestUrl: URL) {
    this.#response = response;
    this.#fetching = fetching;
    this.status = response.status;
    this.statusText = response.statusText;
    this.headers = fetching.headersOf(response);
    // Redirects are not followed here, so a response that came through the client's dispatcher is the
    // request's URL, already parsed; a patched fetch (msw) may still answer with another, or none.
    const url = fetching.dispatched ? '' : response.url;
    this.url = url === '' || url === requestUrl.href ? requestUrl : new URL(url);
    this.body = response.body as AsyncIterable<Uint8Array> | null;
  }

  webHeaders(): Headers {
    return this.#response.headers;
  }

  /** fetch's own reader: iterating the web stream costs a promise and a result object per chunk. */
  bytes(): Promise<Uint8Array> {
    const response = this.#response as Response & { bytes?: () => Promise<Uint8Array> };
    // `bytes()` (Node 20.16+) hands over the buffer it read, and is returned as it is (an async method
    // returning it would cost two more turns); `arrayBuffer()` needs a view made on it.
    return response.bytes === undefined ? response.arrayBuffer().then((buffer) => new Uint8Array(buffer)) : response.bytes();
  }

  discard(reason?: unknown): void {
    this.#fetching.drop(reason);
  }
}
