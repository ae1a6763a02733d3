// ClientClosedError: work refused or discarded because the client was closed.
import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kClientClosedError = Symbol.for('rate-limited-client.error.ClientClosedError');

/** The client was closed: it takes no new work, and `close({ drain: false })` discards what was queued. */
export class ClientClosedError extends RateLimitedClientError {
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kClientClosedError);
  }

  /** `'ClientClosedError'`; its `code` is `'RLC_ERR_CLIENT_CLOSED'`. */
  override name = 'ClientClosedError';

  constructor(message = 'The client is closed') {
    super(message, 'RLC_ERR_CLIENT_CLOSED');
    Object.defineProperty(this, kClientClosedError, { value: true });
  }
}
