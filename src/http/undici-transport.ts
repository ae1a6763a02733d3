// The 'undici' transport: requests through undici's Dispatcher API, the fastest path.
import type { Dispatcher } from 'undici';
import type { AttemptStop } from './attempt-stop.js';
import type { PreparedRequest } from './prepare-request.js';
import type { Transport, TransportResponse } from './transport.js';
import { UndiciExchange } from './undici-exchange.js';

/**
 * Sends through undici's `dispatcher.dispatch()` with a handler of its own (see UndiciExchange): no
 * fetch layer, and none of `dispatcher.request()`'s Readable body, signal listener and promise either.
 */
export class UndiciTransport implements Transport {
  readonly #dispatcher: () => Dispatcher;

  constructor(dispatcher: () => Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  send(request: PreparedRequest, stop: AttemptStop): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      new UndiciExchange(request.url, resolve, reject).start(this.#dispatcher(), request.headers, request.method, request.body, stop);
    });
  }
}
