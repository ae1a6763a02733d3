// withTimeout: a Redis command bounded by commandTimeoutMs, whose outcome after the timeout is still heard.
import { timerDelay } from '../core/clock.js';

/** What happens to a command after its caller stopped waiting for it. */
export interface LateOutcome<T> {
  /** It was answered after all: the server is reachable. */
  answered(value: T): void;
  /** It failed after all. */
  failed(): void;
}

/**
 * `sent`, or a rejection once `ms` have passed without an answer. Redis still runs a command that timed
 * out here (it was written to the socket), so its outcome is passed to `late` instead of being lost.
 */
export function withTimeout<T>(sent: Promise<T>, ms: number, late: LateOutcome<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`Redis did not answer within commandTimeoutMs (${ms} ms)`));
    }, timerDelay(ms));
    timer.unref();
    sent.then(
      (value) => {
        if (timedOut) return late.answered(value);
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (timedOut) return late.failed();
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
