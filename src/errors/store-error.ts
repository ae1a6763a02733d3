import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kStoreError = Symbol.for('rate-limited-client.error.StoreError');

/**
 * What a shared store could not do, with the store's own error (a Redis connection error, say) as
 * `cause`. `operation` names the step: `'acquire'`, `'settle'`, `'release'`, `'renew'` (a lease was
 * lost or could not be renewed) or `'connection'`.
 */
export type StoreOperation = 'acquire' | 'settle' | 'release' | 'renew' | 'connection';

export class StoreError extends RateLimitedClientError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kStoreError);
  }

  override name = 'StoreError';
  readonly operation: StoreOperation;

  constructor(message: string, operation: StoreOperation, options?: { cause?: unknown }) {
    super(message, 'RLC_ERR_STORE', options);
    this.operation = operation;
    Object.defineProperty(this, kStoreError, { value: true });
  }
}
