// RateLimitedClientError: the base of every error of the package, with its stable `code`.
import { isBranded } from './brand.js';

const kRateLimitedClientError = Symbol.for('rate-limited-client.error');

/** The base of every error this package throws on its own account. `code` is stable across versions. */
export class RateLimitedClientError extends Error {
  /**
   * `instanceof` that works across two copies of this package in one process (a CJS and an ESM copy, or
   * two versions): it checks a `Symbol.for()` brand, not the prototype chain.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kRateLimitedClientError);
  }

  /** `'RateLimitedClientError'`; each subclass sets its own class name. */
  override name = 'RateLimitedClientError';
  /**
   * What kind of error this is, stable across versions, to match on instead of `message`:
   * `'RLC_ERR_HTTP'`, `'RLC_ERR_NETWORK'`, `'RLC_ERR_TIMEOUT'`, `'RLC_ERR_QUEUE_FULL'`,
   * `'RLC_ERR_CLIENT_CLOSED'` or `'RLC_ERR_STORE'`.
   */
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, kRateLimitedClientError, { value: true });
  }
}
