// A bucket: `limit` units per `windowMs` refilled continuously, at most `burst` held; GCRA, one number.
import type { WindowUsage } from '../core/options.js';

/** A window with `burst`: a bucket (see TokenBucket). */
export interface BucketShape {
  readonly limit: number;
  readonly windowMs: number;
  readonly burst: number;
}

/**
 * A token bucket kept as GCRA keeps it: one number, the theoretical arrival time `tat` (when the
 * bucket would be full again). A unit comes back every `windowMs / limit` ms; the bucket holds at most
 * `burst`, so `cost` units fit at `now` when `max(tat, now) + cost * interval - now <= burst * interval`.
 * It starts full.
 *
 * Like the sliding windows, a start goes through two stages. Granted, its cost is *pending*: it counts
 * as taken and nothing is known of when the server counted it. Settled (an HTTP request at its
 * response headers, the latest moment the server could have counted it), it is taken at that time:
 * `tat = max(tat, time) + cost * interval`. So two requests sent 50 ms apart that arrive 45 ms apart
 * are counted here no closer than the server counted them: a start never leaves the bucket earlier
 * than its response. While a pending start holds the room a cost needs, no timer can tell when it
 * frees (Infinity), as for windows.
 */
export class TokenBucket {
  limit: number;
  windowMs: number;
  burst: number;
  /** Milliseconds per unit. */
  #interval: number;
  /** When the bucket is full again, as if every settled start had taken its units then (GCRA). */
  #tat = -Infinity;
  /** Units granted and not settled. */
  #pending = 0;

  /** `tat`: see the field; `pending`: units already granted and not settled (they settle into this bucket). */
  constructor(shape: BucketShape, tat = -Infinity, pending = 0) {
    this.limit = shape.limit;
    this.windowMs = shape.windowMs;
    this.burst = shape.burst;
    this.#interval = shape.windowMs / shape.limit;
    this.#tat = tat;
    this.#pending = pending;
  }

  /**
   * A new rate or size from now on: what was taken stays taken (a unit owed at the old pace is owed at
   * the new one). For a rate that moves (a learned one), not for configured limits (see CostLimiter).
   */
  reshape(shape: BucketShape, now: number): void {
    const owed = Math.max(0, this.#tat - now) / this.#interval;
    this.limit = shape.limit;
    this.windowMs = shape.windowMs;
    this.burst = shape.burst;
    this.#interval = shape.windowMs / shape.limit;
    this.#tat = owed > 0 ? now + owed * this.#interval : this.#tat;
  }

  /** When the bucket is full again (for a bucket that replaces this one: see CostLimiter#setWindows). */
  get tat(): number {
    return this.#tat;
  }

  /** Milliseconds until `cost` more units fit: 0 now; Infinity when pending starts hold the room. */
  wait(cost: number, now: number, pendingHold = Infinity): number {
    let wait = Math.max(this.#tat, now) + (this.#pending + cost - this.burst) * this.#interval - now;
    // Floating-point noise (an interval of 74 / 3 ms) must not cost a timer a millisecond: 24.000000000000004
    // is 24, and a hair over 0 is now (the level says the units are there).
    const whole = Math.round(wait);
    if (Math.abs(wait - whole) < 1e-9) wait = whole;
    if (wait <= 0) return 0;
    // While the pending units fit beside the cost, refill alone makes the room, at a time known now.
    // Otherwise they hold it: they are taken at their settle, no earlier than now, and free nothing before.
    return this.#pending > 0 && this.#pending + cost > this.burst ? Math.max(wait, pendingHold) : wait;
  }

  /** Takes `cost` units as pending. Call only when `wait()` has just returned 0. */
  take(cost: number): void {
    this.#pending += cost;
  }

  /** The pending `cost` is taken at `time`. */
  settle(cost: number, time: number): void {
    this.#pending -= cost;
    this.add(cost, time);
  }

  /** `cost` more units taken at `time` (a cost settled higher than its estimate). */
  add(cost: number, time: number): void {
    if (cost > 0) this.#tat = Math.max(this.#tat, time) + cost * this.#interval;
  }

  /** A pending start's cost changed from `from` to `to`. */
  repend(from: number, to: number): void {
    this.#pending += to - from;
  }

  /**
   * `cost` units of a settled start go back into the bucket (it cost less): the start took `counted`
   * units at `startedAt`, and only what of its span is still ahead of `now` comes back.
   */
  refund(cost: number, startedAt = Infinity, counted = cost, now = -Infinity): void {
    // Only what is still ahead of `now` of the start's own span comes back: GCRA's max(tat, time) is not
    // linear, and units of a start long refilled may now belong to a later start. The start took
    // `counted` units at `startedAt`, so its span ends no earlier than `startedAt + counted * interval`.
    const ahead = Math.max(0, startedAt + counted * this.#interval - now);
    this.#tat -= Math.min(cost * this.#interval, ahead);
  }

  /**
   * `level`: whole units in the bucket now; `used`: `burst - level`; `nextUnitMs`: until the level
   * grows by one (0 when full; Infinity when only pending starts hold it: they must settle first).
   */
  usage(now: number, counts: string): WindowUsage {
    const owed = Math.max(0, this.#tat - now) / this.#interval; // settled units not back yet
    const missing = owed + this.#pending;
    const level = Math.max(0, Math.floor(this.burst - missing + 1e-9));
    let nextUnitMs = 0;
    if (level < this.burst) {
      const toRefill = missing - (this.burst - level - 1);
      // To the microsecond: stats are read by people, and 70.00000000000001 ms is 70.
      nextUnitMs = toRefill > owed + 1e-9 ? Infinity : Math.round(toRefill * this.#interval * 1000) / 1000;
    }
    return { limit: this.limit, windowMs: this.windowMs, counts, burst: this.burst, used: this.burst - level, level, nextUnitMs };
  }
}
