// The one timer for the next moment a window has room, precise to the last millisecond.
import { MAX_TIMER_DELAY_MS, timerDelay } from '../core/clock.js';

/**
 * Most `setImmediate` re-checks in a row that find the clock not moved at all. Real time always moves
 * between two turns of the event loop; a clock that does not (fake timers) falls back to a 1 ms timeout
 * instead of spinning.
 */
const MAX_STALLED_CHECKS = 64;

/**
 * The one timer for the next moment a window has room: not one per waiter, and no polling.
 *
 * Precision matters here: a late wake-up delays every later window too, since each slot frees
 * `windowMs` after the start that used it. Node timers have millisecond granularity, fire up to ~1 ms
 * early against `performance.now()`, and on a busy or virtualised machine now and then several ms
 * late. So with a real clock the timer is set `spinMs` before the due time and the rest is waited out
 * on `setImmediate`, which yields to I/O on every turn. Measured on the 2-core CI machine, 40 wake-ups
 * of ~90 ms: total lateness 0.25-1.1 ms this way, 2.3-7.7 ms with a plain timer. The price is up to
 * `spinMs` of event-loop turns per wake-up, and there is at most one wake-up per freed slot.
 *
 * The owner re-checks the windows on every wake, so an early wake never grants early; it arms again.
 */
export class WakeTimer {
  readonly #onWake: () => void;
  /** 0 for a plain timer (an injected clock: tests drive time themselves). */
  readonly #spinMs: number;
  #timeout: ReturnType<typeof setTimeout> | undefined = undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined = undefined;
  /** Clock time the pending wake is for; Infinity when none is pending. */
  #due = Infinity;
  #stalledChecks = 0;
  #lastNow = -Infinity;

  constructor(onWake: () => void, spinMs: number) {
    this.#onWake = onWake;
    this.#spinMs = spinMs;
  }

  /** Wakes `delay` ms after `now`, unless a wake at or before that time is already pending. */
  arm(delay: number, now: number): void {
    const due = now + delay;
    if (this.#due <= due) return;
    this.cancel();
    this.#due = due;
    this.#stalledChecks = now === this.#lastNow ? this.#stalledChecks + 1 : 0;
    this.#lastNow = now;
    if (this.#spinMs === 0) {
      this.#timeout = setTimeout(this.#fire, timerDelay(delay));
    } else if (delay > this.#spinMs) {
      this.#timeout = setTimeout(this.#fire, Math.min(MAX_TIMER_DELAY_MS, Math.floor(delay - this.#spinMs)));
    } else if (this.#stalledChecks < MAX_STALLED_CHECKS) {
      this.#immediate = setImmediate(this.#fire);
    } else {
      this.#timeout = setTimeout(this.#fire, 1);
    }
  }

  cancel(): void {
    if (this.#timeout !== undefined) clearTimeout(this.#timeout);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timeout = undefined;
    this.#immediate = undefined;
    this.#due = Infinity;
  }

  readonly #fire = (): void => {
    this.#timeout = undefined;
    this.#immediate = undefined;
    this.#due = Infinity;
    this.#onWake();
  };
}
