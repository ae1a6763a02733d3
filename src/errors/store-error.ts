// StoreError: a shared store (Redis) that failed an operation, and which one.
import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kStoreError = Symbol.for('rate-limited-client.error.StoreError');

/**
 * The step of a shared store that failed: `'acquire'`, `'settle'`, `'release'`, `'renew'` (a lease was
 * lost or could not be renewed) or `'connection'`.
 */
export type StoreOperation = 'acquire' | 'settle' | 'release' | 'renew' | 'feedback' | 'connection';

/**
 * What a shared store could not do, with the store's own error (a Redis connection error, say) as
 * `cause` and the step that failed as `operation`.
 */
export class StoreError extends RateLimitedClientError {
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kStoreError);
  }

  /** `'StoreError'`; its `code` is `'RLC_ERR_STORE'`. */
  override name = 'StoreError';
  /** The step that failed (see {@link StoreOperation}). */
  readonly operation: StoreOperation;

  constructor(message: string, operation: StoreOperation, options?: { cause?: unknown }) {
    super(message, 'RLC_ERR_STORE', options);
    this.operation = operation;
    Object.defineProperty(this, kStoreError, { value: true });
  }
}
