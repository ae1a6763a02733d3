// The sliding-window timestamp limiter: at most `limit` units start in any `windowMs`, for every window at once.
import type { RateWindow, WindowUsage } from '../core/options.js';
import { TimestampLog } from './timestamp-log.js';

/** The longest `windowMs` of `windows`, 0 without windows. */
export function longestWindow(windows: readonly RateWindow[]): number {
  return windows.reduce((longest, window) => Math.max(longest, window.windowMs), 0);
}

/** A position in the log: the first entry still inside a span of `windowMs`. */
interface LogCursor {
  windowMs: number;
  /** Absolute log index of the first entry still inside the span; older entries have expired. */
  start: number;
}

interface WindowState extends LogCursor {
  readonly limit: number;
}

/**
 * Exact sliding windows: for every configured window, in any interval of `windowMs` milliseconds at
 * most `limit` units of weight start. Never a fixed window and never an estimate: the limiter keeps
 * the log of start times and counts them.
 *
 * A start goes through two stages. `take()` reserves its weight as *pending*: it counts in every window
 * and can not expire, because its timestamp is not known yet. `settle()` then records its timestamp,
 * and it expires `windowMs` after that. A task settles as soon as it has started; an HTTP request
 * settles when its response headers arrive, the latest moment the server could have counted it, so
 * the windows hold as the server counts them, whatever the network delay.
 *
 * One log serves all windows (it keeps what the longest window so far still covers); each window keeps
 * its own index of its first live entry, advanced as entries expire (amortised O(1)). A window's usage
 * is a difference of running totals, so weights cost nothing extra, and the time until enough weight
 * expires is a binary search.
 */
export class SlidingWindowLimiter {
  #windows: WindowState[];
  readonly #log = new TimestampLog();
  /**
   * Tracks the longest window configured so far: the log keeps what it still covers, so that a window
   * made longer again later still sees the starts made before (it is not used to limit anything).
   */
  readonly #history: LogCursor;
  /** Weight taken but not settled: counted in every window, never expiring until settled. */
  #pending = 0;

  /** The currency its windows count, for `usage()`. */
  readonly #counts: string;

  constructor(windows: readonly RateWindow[], counts = 'requests') {
    this.#counts = counts;
    this.#windows = windows.map((window) => ({ limit: window.limit, windowMs: window.windowMs, start: 0 }));
    this.#history = { windowMs: longestWindow(windows), start: 0 };
  }

  get windows(): readonly RateWindow[] {
    return this.#windows.map(({ limit, windowMs }) => ({ limit, windowMs, counts: this.#counts }));
  }

  /**
   * Replaces the windows. Starts already logged count in the new windows too, so lowering a limit can
   * not open a burst. History reaches back as far as the longest window so far (and nowhere when
   * there was no window): a window longer than any before can not see starts older than that.
   */
  setWindows(windows: readonly RateWindow[], now: number): void {
    this.#windows = windows.map((window) => {
      const state: WindowState = { limit: window.limit, windowMs: window.windowMs, start: this.#log.first };
      this.#expire(state, now);
      return state;
    });
    this.#history.windowMs = Math.max(this.#history.windowMs, longestWindow(windows));
    this.#dropExpired(now);
  }

  /**
   * Milliseconds until `weight` more units fit in every window: 0 when they fit now, Infinity when
   * pending starts hold the room (they free it when they settle, and no timer can tell when).
   */
  wait(weight: number, now: number): number {
    return this.#wait(weight, now, Infinity);
  }

  /**
   * A lower bound of `wait()`: where pending starts hold the room, they settle no earlier than now,
   * so that room frees no sooner than `windowMs` from now. For "can this start in time?" questions.
   */
  earliestWait(weight: number, now: number): number {
    return this.#wait(weight, now, 0);
  }

  /** Reserves `weight` as pending in every window. Call only when `wait()` has just returned 0. */
  take(weight: number): void {
    this.#pending += weight;
  }

  /**
   * Records the start of `weight` pending units at `time`; they expire `windowMs` after it. Returns the
   * entry's index in the log (for `refund`), or -1 when nothing was logged.
   */
  settle(weight: number, time: number): number {
    this.#pending -= weight;
    return this.add(weight, time);
  }

  /** Counts `weight` more units started at `time` (a cost that turned out higher). Returns its index, or -1. */
  add(weight: number, time: number): number {
    if (this.#windows.length === 0 || weight === 0) return -1;
    // A clock that stepped back (an injected one) must not break the log's time order.
    this.#log.push(Math.max(time, this.#log.lastTime), weight);
    return this.#log.end - 1;
  }

  /** Changes `from` pending units (taken, not settled) to `to`: a cost settled before its start was. */
  repend(from: number, to: number): void {
    this.#pending += to - from;
  }

  /**
   * Gives back `weight` units of the start logged at `index` (it cost less): its entry keeps its time and
   * counts less in every window from now. A start no window still counts gives nothing back.
   */
  refund(index: number, weight: number): void {
    if (index >= 0) this.#log.refund(index, weight);
  }

  /** `pendingHold` is what a window held by pending starts waits: Infinity, or 0 for a lower bound. */
  #wait(weight: number, now: number, pendingHold: number): number {
    // Without windows anything fits, and nothing is logged: once the starts logged under earlier
    // windows are dropped, there is no bookkeeping to do.
    if (this.#windows.length === 0 && this.#log.end === this.#log.first) return 0;
    let longest = 0;
    for (const window of this.#windows) {
      this.#expire(window, now);
      const expiredTotal = this.#log.totalBefore(window.start);
      const live = this.#log.total - expiredTotal;
      const room = window.limit - this.#pending - live;
      if (room >= weight) continue;
      const mustExpire = weight - room;
      const wait =
        mustExpire > live
          ? pendingHold + window.windowMs
          : this.#log.timeAt(this.#log.firstReaching(expiredTotal + mustExpire, window.start)) + window.windowMs - now;
      longest = Math.max(longest, wait);
    }
    this.#dropExpired(now);
    return longest;
  }

  /** Units settled in the last `spanMs` (as far back as the log reaches); pending ones are not. */
  recent(spanMs: number, now: number): number {
    const log = this.#log;
    let index = log.end;
    while (index > log.first && log.timeAt(index - 1) + spanMs > now) index--;
    return log.total - log.totalBefore(index);
  }

  /** Units granted and not settled (of every start of this currency, windows or not). */
  get pending(): number {
    return this.#pending;
  }

  usage(now: number): WindowUsage[] {
    const usage = this.#windows.map((window) => {
      this.#expire(window, now);
      const live = this.#log.total - this.#log.totalBefore(window.start);
      return { limit: window.limit, windowMs: window.windowMs, counts: this.#counts, used: this.#pending + live };
    });
    this.#dropExpired(now);
    return usage;
  }

  /** An entry expires from a window once `time + windowMs <= now`: a start exactly `windowMs` later is allowed. */
  #expire(window: LogCursor, now: number): void {
    const log = this.#log;
    let start = Math.max(window.start, log.first);
    while (start < log.end && log.timeAt(start) + window.windowMs <= now) start++;
    window.start = start;
  }

  /** Forgets what even the longest window so far no longer covers (every window's start is later). */
  #dropExpired(now: number): void {
    this.#expire(this.#history, now);
    this.#log.dropBefore(this.#history.start);
  }
}
