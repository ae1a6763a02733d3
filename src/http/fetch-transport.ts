// The 'fetch' transport: requests through the global fetch (so msw sees them), on the client's dispatcher.
import type { Dispatcher } from 'undici';
import type { AttemptStop } from './attempt-stop.js';
import type { PreparedRequest } from './prepare-request.js';
import { StoppableFetch } from './stoppable-fetch.js';
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
      method: request.method,
      headers: request.headers,
      // The HTTP layer follows redirects itself, so that each hop is counted and secrets stay home.
      redirect: 'manual',
    };
    if (request.body !== undefined) init.body = request.body;
    const response = await fetching.fetch(request.url, init);
    const { headers } = response;
    return {
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
      discard: (reason) => fetching.drop(reason),
    };
  }
}
