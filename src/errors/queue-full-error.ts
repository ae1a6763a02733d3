import type { OverflowStrategy } from '../core/options.js';
import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kQueueFullError = Symbol.for('rate-limited-client.error.QueueFullError');

/**
 * The queue had no room for a task: it was refused (`overflow: 'reject'`) or pushed out to make room
 * for another (`'drop-oldest'`, `'drop-lowest-priority'`; `dropped` is then true).
 */
export class QueueFullError extends RateLimitedClientError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kQueueFullError);
  }

  override name = 'QueueFullError';
  readonly maxSize: number;
  readonly overflow: OverflowStrategy;
  readonly dropped: boolean;

  constructor(maxSize: number, overflow: OverflowStrategy) {
    const dropped = overflow !== 'reject';
    super(
      dropped
        ? `Task was dropped from the full queue (maxSize ${maxSize}, overflow '${overflow}')`
        : `Queue is full (maxSize ${maxSize}, overflow 'reject')`,
      'RLC_ERR_QUEUE_FULL',
    );
    this.maxSize = maxSize;
    this.overflow = overflow;
    this.dropped = dropped;
    Object.defineProperty(this, kQueueFullError, { value: true });
  }
}
