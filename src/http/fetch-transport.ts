import type { Dispatcher } from 'undici';
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

  async send(request: PreparedRequest, signal: AbortSignal): Promise<TransportResponse> {
    const init: Record<string, unknown> = {
      method: request.method,
      headers: request.headers,
      signal,
      dispatcher: this.#dispatcher(),
      // The HTTP layer follows redirects itself, so that each hop is counted and secrets stay home.
      redirect: 'manual',
    };
    if (request.body !== undefined) init.body = request.body;
    // `dispatcher` is undici's extension of RequestInit; Node's own types name an older undici's.
    const response = await globalThis.fetch(request.url, init as RequestInit);
    return {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      url: response.url ? new URL(response.url) : request.url,
      body: response.body as AsyncIterable<Uint8Array> | null,
    };
  }
}
