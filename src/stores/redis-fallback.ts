// LocalShare: this process's share of the shared limits, which `failureMode: 'local'` answers from while
// Redis is down; it records every start of this process, wherever it was granted.
import type { RateWindow, WindowUsage } from '../core/options.js';
import { SlidingWindowLimiter } from '../limit/sliding-window.js';
import type { StoreLimits } from '../core/store.js';

/** One process's part of a limit shared by `clients` live processes; never 0, so work can still move. */
function share(limit: number, clients: number): number {
  return limit === Infinity ? Infinity : Math.max(1, Math.floor(limit / clients));
}

/**
 * This process's share of the shared limits, for `RedisStore`'s `failureMode: 'local'` while Redis is
 * down: each window allows `max(1, floor(limit / clients))` and the concurrency likewise, `clients`
 * being the live-client count Redis last reported (1 until it has reported one).
 *
 * It records every start of this process, granted by Redis or by itself, so that an outage right after
 * a burst does not hand out a fresh share on top of it: the windows see this process's own recent
 * starts, and `inFlight` its own running work, wherever it was granted.
 */
export class LocalShare {
  #limits: StoreLimits;
  #clients = 1;
  #limiter: SlidingWindowLimiter;
  /** Units of weight granted to this process (by Redis or by this share) and not released yet. */
  #inFlight = 0;

  constructor(limits: StoreLimits) {
    this.#limits = limits;
    this.#limiter = new SlidingWindowLimiter(this.#shares());
  }

  setLimits(limits: StoreLimits, now: number): void {
    this.#limits = limits;
    this.#limiter.setWindows(this.#shares(), now);
  }

  /** A new live-client count from Redis: the shares follow it (starts already logged still count). */
  setClients(clients: number, now: number): void {
    const count = Math.max(1, clients);
    if (count === this.#clients) return;
    this.#clients = count;
    this.#limiter.setWindows(this.#shares(), now);
  }

  /**
   * Milliseconds until `weight` fits this process's share: 0 now, Infinity while its own running or
   * unsettled work holds the room (this process's scheduler asks again when that work settles or ends).
   * A weight above a share is let through alone, once nothing of it is left in the way: a share can be
   * smaller than the heaviest task the full limits allow, and that task must not wait forever.
   */
  wait(weight: number, now: number): number {
    const fitted = Math.min(weight, this.#limiter.maxWeight);
    const concurrency = share(this.#limits.concurrency, this.#clients);
    if (this.#inFlight > 0 && this.#inFlight + weight > concurrency) return Infinity;
    return this.#limiter.wait(fitted, now);
  }

  earliestWait(weight: number, now: number): number {
    return this.#limiter.earliestWait(Math.min(weight, this.#limiter.maxWeight), now);
  }

  /** A start granted to this process (by anyone): pending in every window, and in flight. */
  take(weight: number): void {
    this.#limiter.take(weight);
    this.#inFlight += weight;
  }

  /** Its start is recorded at `now`: it expires from each window `windowMs` later. */
  settle(weight: number, now: number): void {
    this.#limiter.settle(weight, now);
  }

  /** Its work has ended (settle it first). */
  release(weight: number): void {
    this.#inFlight -= weight;
  }

  /** This process's share of each window and what it has used of it. */
  usage(now: number): WindowUsage[] {
    return this.#limiter.usage(now);
  }

  /** This process's own use of each configured window (same order as the limits' windows). */
  used(now: number): number[] {
    return this.#limiter.usage(now).map((window) => window.used);
  }

  #shares(): RateWindow[] {
    return this.#limits.windows.map((window) => ({ limit: share(window.limit, this.#clients), windowMs: window.windowMs }));
  }
}
