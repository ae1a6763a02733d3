// TimeoutError: a task that did not start within maxWaitMs ('queue') or did not end within timeoutMs ('run').
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
  /** `instanceof` that works across two copies of this package (CJS and ESM, or two versions): it checks the brand. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(value, kTimeoutError);
  }

  /** `'TimeoutError'`; its `code` is `'RLC_ERR_TIMEOUT'`. */
  override name = 'TimeoutError';
  /** `'queue'`: the task never started in time; `'run'`: it started and ran too long. */
  readonly phase: TimeoutPhase;
  /** The limit that ran out, in milliseconds: the task's `maxWaitMs` (phase `'queue'`) or `timeoutMs` (phase `'run'`). */
  readonly timeoutMs: number;

  constructor(message: string, phase: TimeoutPhase, timeoutMs: number) {
    super(message, 'RLC_ERR_TIMEOUT');
    this.phase = phase;
    this.timeoutMs = timeoutMs;
    Object.defineProperty(this, kTimeoutError, { value: true });
  }
}
