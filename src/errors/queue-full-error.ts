// QueueFullError: a task refused or dropped by a full queue's overflow strategy.
import type { OverflowStrategy } from '../core/options.js';
import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kQueueFullError = Symbol.for('rate-limited-client.error.QueueFullError');

/**
 * The queue had no room for a task: it was refused (`overflow: 'reject'`) or pushed out to make room
 * for another (`'drop-oldest'`, `'drop-lowest-priority'`; `dropped` is then true).
 */
export class QueueFullError extends RateLimitedClientError {
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kQueueFullError);
  }

  /** `'QueueFullError'`; its `code` is `'RLC_ERR_QUEUE_FULL'`. */
  override name = 'QueueFullError';
  /** The queue's `maxSize` option when this happened. */
  readonly maxSize: number;
  /** The queue's `overflow` option that refused or dropped the task: never `'block'`, which waits instead. */
  readonly overflow: OverflowStrategy;
  /**
   * True when `'drop-oldest'` or `'drop-lowest-priority'` dropped the task (under the latter it may be the
   * task just submitted, when it would run last); false when `'reject'` refused it on arrival.
   */
  readonly dropped: boolean;
  /** The key whose own queue (`perKey.queue`) was full, or undefined: the client's queue was. */
  readonly key: string | undefined;

  constructor(maxSize: number, overflow: OverflowStrategy, key?: string) {
    const dropped = overflow !== 'reject';
    const queue = key === undefined ? 'queue' : `queue of key '${key}'`;
    super(
      dropped
        ? `Task was dropped from the full ${queue} (maxSize ${maxSize}, overflow '${overflow}')`
        : `${key === undefined ? 'Queue' : `The ${queue}`} is full (maxSize ${maxSize}, overflow 'reject')`,
      'RLC_ERR_QUEUE_FULL',
    );
    this.maxSize = maxSize;
    this.overflow = overflow;
    this.dropped = dropped;
    this.key = key;
    Object.defineProperty(this, kQueueFullError, { value: true });
  }
}
