// What a RedisStore answers for `usage()` and `keyUsage()`: the figures of Redis's last reply while they
// can still be true, in the shape of the windows they are about.
import { REQUESTS } from '../core/cost.js';
import type { RateWindow, WindowUsage } from '../core/options.js';

/**
 * How long a start still counts for a window: `windowMs`; for a bucket, until it is full again after a
 * burst (`burst` units at one every `windowMs / limit`), if that is longer.
 */
export function countsFor(window: RateWindow): number {
  return window.burst === undefined ? window.windowMs : Math.max(window.windowMs, (window.burst * window.windowMs) / window.limit);
}

/** How long a start counts in Redis for these windows: the longest window (or bucket's refill), widened by the margin. */
export function longestSpan(windows: readonly RateWindow[], marginMs: number): number {
  return windows.reduce((longest, window) => Math.max(longest, countsFor(window)), 0) + marginMs;
}

/** Each window's usage from `used` (same order; 0 where missing). */
export function usageOf(windows: readonly RateWindow[], used: readonly number[]): WindowUsage[] {
  return windows.map((window, i): WindowUsage => {
    const usage = { limit: window.limit, windowMs: window.windowMs, counts: window.counts ?? REQUESTS, used: used[i] ?? 0 };
    // A bucket's level as Redis last saw it; when the next unit comes is not sent back (it would cost the reply a number per bucket).
    return window.burst === undefined ? usage : { ...usage, burst: window.burst, level: Math.max(0, window.burst - usage.used) };
  });
}

/** Redis's last figures for one set of windows (the client's, or a tenant key's), and when they came. */
export class LastUsed {
  /** Each window's usage in Redis's last reply (same order as the windows then), if any. */
  #used: number[] | undefined = undefined;
  /** Clock time of that reply: once the longest window has passed since, it says nothing any more. */
  #at = -Infinity;

  set(used: number[], now: number): void {
    this.#used = used;
    this.#at = now;
  }

  /** The windows changed shape: the figures no longer match them. */
  clear(): void {
    this.#used = undefined;
  }

  /** The figures, while less than `span` has passed since they came; else undefined. */
  read(now: number, span: number): number[] | undefined {
    return this.#used !== undefined && now - this.#at < span ? this.#used : undefined;
  }
}
