import type { Dispatcher } from 'undici';
import type { PreparedRequest } from './prepare-request.js';
import type { Transport, TransportResponse } from './transport.js';

/** Sends through undici's Dispatcher API (`dispatcher.request`): no fetch layer, about 3x faster. */
export class UndiciTransport implements Transport {
  readonly #dispatcher: () => Dispatcher;

  constructor(dispatcher: () => Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  async send(request: PreparedRequest, signal: AbortSignal): Promise<TransportResponse> {
    const { url } = request;
    const response = await this.#dispatcher().request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers: request.headers,
      body: request.body ?? null,
      signal,
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    }
    return {
      status: response.statusCode,
      statusText: response.statusText ?? '',
      headers,
      url,
      body: response.body,
    };
  }
}
