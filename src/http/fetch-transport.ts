// The 'fetch' transport: requests through the global fetch (so msw sees them), on the client's dispatcher.
import type { Dispatcher } from 'undici';
import type { AttemptStop } from './attempt-stop.js';
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

  async send(request: PreparedRequest, stop: AttemptStop): Promise<TransportResponse> {
    // fetch can be stopped only through a signal: one controller, which the attempt's stop and
    // `discard()` both abort.
    const controller = new AbortController();
    stop.on({ onStop: (reason) => controller.abort(reason) });
    // A record, not a RequestInit: `dispatcher` is undici's extension of RequestInit, and Node's own
    // types name an older undici's.
    const init: Record<string, unknown> = {
      method: request.method,
      headers: request.headers,
      signal: controller.signal,
      dispatcher: this.#dispatcher(),
      // The HTTP layer follows redirects itself, so that each hop is counted and secrets stay home.
      redirect: 'manual',
    };
    if (request.body !== undefined) init.body = request.body;
    const response = await globalThis.fetch(request.url, init);
    const body = response.body as AsyncIterable<Uint8Array> | null;
    const { headers } = response;
    return {
      status: response.status,
      statusText: response.statusText,
      headers,
      webHeaders: () => headers,
      // Redirects are not followed here, so the URL is the request's, already parsed; a patched fetch
      // (msw) may still answer with another, or none.
      url: response.url === request.url.href ? request.url : response.url ? new URL(response.url) : request.url,
      body,
      // fetch's own reader: iterating the web stream costs a promise and a result object per chunk.
      bytes: async () => new Uint8Array(await response.arrayBuffer()),
      discard: (reason) => controller.abort(reason),
    };
  }
}
