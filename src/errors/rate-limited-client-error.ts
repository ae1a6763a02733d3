import { isBranded } from './brand.js';

const kRateLimitedClientError = Symbol.for('rate-limited-client.error');

/** The base of every error this package throws on its own account. `code` is stable across versions. */
export class RateLimitedClientError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kRateLimitedClientError);
  }

  override name = 'RateLimitedClientError';
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, kRateLimitedClientError, { value: true });
  }
}
