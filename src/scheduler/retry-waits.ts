// Retries waiting out their delay: accepted work the client still owes, outside the queue.
import { type Clock, timerDelay } from '../core/clock.js';
import { AbortWatch } from './abort-watch.js';

/** A retry waiting out its delay; `reject` ends it early (an abort, a close without draining). */
interface RetryWait {
  readonly signal: AbortSignal | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly reject: (reason: unknown) => void;
}

/**
 * Retries waiting out their delay (a backoff, a server's Retry-After): work the client accepted and
 * still owes, outside the queue, holding no worker and no permit, until the delay ends. The client
 * is not idle while one waits. The caller's signal ends a wait at once with its reason, as
 * `rejectAll` does for every wait (a close without draining).
 */
export class RetryWaits {
  readonly #clock: Clock;
  /** Called once each wait has ended, either way, so the scheduler can look again (it may be idle). */
  readonly #ended: () => void;
  /** Every wait that has not ended. */
  readonly #waits = new Set<RetryWait>();
  /** The callers' signals of the waits in `#waits`: one listener per signal, as for jobs. */
  readonly #abortWatch = new AbortWatch<RetryWait>((waits, reason) => {
    for (const wait of waits) wait.reject(reason);
  });

  constructor(clock: Clock, ended: () => void) {
    this.#clock = clock;
    this.#ended = ended;
  }

  get size(): number {
    return this.#waits.size;
  }

  /**
   * Waits `delayMs`, then calls `again` (to submit the retry) in the same turn, so the client never
   * looks idle in between, and settles as its promise does. `signal` must not be aborted yet.
   */
  wait<T>(delayMs: number, signal: AbortSignal | undefined, again: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const due = this.#clock.now() + delayMs;
      let finished = false;
      const finish = (error?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(wait.timer);
        this.#abortWatch.unwatch(wait);
        this.#waits.delete(wait);
        if (error !== undefined) {
          // The caller's abort reason or the close error, passed on as given (fetch does the same).
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(error);
        } else {
          // `again` runs in a timer callback: a throw must reach the caller, not the process.
          try {
            resolve(again());
          } catch (thrown) {
            reject(thrown);
          }
        }
        this.#ended();
      };
      // Node's longest timer is ~24.8 days: a longer delay waits in steps.
      const arm = (): ReturnType<typeof setTimeout> =>
        setTimeout(
          () => {
            const left = due - this.#clock.now();
            if (left >= 1) wait.timer = arm();
            else finish();
          },
          timerDelay(due - this.#clock.now()),
        );
      const wait: RetryWait = { signal, timer: undefined, reject: (error: unknown) => finish(error) };
      wait.timer = arm();
      this.#waits.add(wait);
      this.#abortWatch.watch(wait);
    });
  }

  /** Ends every wait with `reason`. */
  rejectAll(reason: unknown): void {
    for (const wait of [...this.#waits]) wait.reject(reason);
  }
}
