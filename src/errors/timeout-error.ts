import { isBranded } from './brand.js';
import { RateLimitedClientError } from './rate-limited-client-error.js';

const kTimeoutError = Symbol.for('rate-limited-client.error.TimeoutError');

/** Where the time ran out: waiting to start (`maxWaitMs`) or while running (`timeoutMs`). */
export type TimeoutPhase = 'queue' | 'run';

/**
 * A task waited longer than `maxWaitMs` to start, or ran longer than `timeoutMs`.
 * When the run timed out, the task's `signal` was aborted with this error as its reason.
 */
export class TimeoutError extends RateLimitedClientError {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kTimeoutError);
  }

  override name = 'TimeoutError';
  readonly phase: TimeoutPhase;
  readonly timeoutMs: number;

  constructor(message: string, phase: TimeoutPhase, timeoutMs: number) {
    super(message, 'RLC_ERR_TIMEOUT');
    this.phase = phase;
    this.timeoutMs = timeoutMs;
    Object.defineProperty(this, kTimeoutError, { value: true });
  }
}
