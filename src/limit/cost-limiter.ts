// The windows of every currency at once: a task starts when each currency it costs has room for its cost.
import type { Cost } from '../core/cost.js';
import { REQUESTS } from '../core/cost.js';
import type { RateWindow, WindowUsage } from '../core/options.js';
import { SlidingWindowLimiter } from './sliding-window.js';

/** Where a settled start's cost sits in each currency's log (for refunds): currency → log index. */
export type LoggedCost = Record<string, number>;

/** The windows grouped by the currency they count, in the order they were configured. */
function byCurrency(windows: readonly RateWindow[]): Map<string, RateWindow[]> {
  const groups = new Map<string, RateWindow[]>();
  for (const window of windows) {
    const counts = window.counts ?? REQUESTS;
    let group = groups.get(counts);
    if (group === undefined) groups.set(counts, (group = []));
    group.push(window);
  }
  return groups;
}

/**
 * Exact sliding windows for every currency at once. `'requests'` windows count each start's weight;
 * the windows of another currency (`'tokens'`) count each start's cost in it. A start must fit every
 * window of every currency it costs anything in; a currency it costs 0 of does not hold it back.
 *
 * Each currency has its own `SlidingWindowLimiter` (one log, every window of that currency over it),
 * kept for as long as the limiter lives even when `setWindows` drops the currency's windows: a start's
 * position in its log must stay valid for a later refund.
 */
export class CostLimiter {
  readonly #limiters = new Map<string, SlidingWindowLimiter>();
  /** The requests limiter, looked up on every start. */
  readonly #requests: SlidingWindowLimiter;
  /** The windows as configured, in their order, for `usage()`. */
  #windows: readonly RateWindow[];

  constructor(windows: readonly RateWindow[]) {
    this.#windows = windows;
    const groups = byCurrency(windows);
    this.#requests = new SlidingWindowLimiter(groups.get(REQUESTS) ?? [], REQUESTS);
    this.#limiters.set(REQUESTS, this.#requests);
    for (const [counts, group] of groups) {
      if (counts !== REQUESTS) this.#limiters.set(counts, new SlidingWindowLimiter(group, counts));
    }
  }

  /** Replaces the windows of every currency; starts already logged count in the new ones. */
  setWindows(windows: readonly RateWindow[], now: number): void {
    this.#windows = windows;
    const groups = byCurrency(windows);
    for (const [counts, limiter] of this.#limiters) limiter.setWindows(groups.get(counts) ?? [], now);
    for (const [counts, group] of groups) {
      if (!this.#limiters.has(counts)) this.#limiters.set(counts, new SlidingWindowLimiter(group, counts));
    }
  }

  /** Milliseconds until `weight` requests and `cost` fit every window: 0 now, Infinity when unsettled starts hold the room. */
  wait(weight: number, cost: Cost | null, now: number): number {
    let wait = this.#requests.wait(weight, now);
    if (cost === null) return wait;
    for (const counts in cost) {
      const amount = cost[counts] as number;
      if (amount > 0) wait = Math.max(wait, this.#limiters.get(counts)?.wait(amount, now) ?? 0);
    }
    return wait;
  }

  /** A lower bound of `wait()` (see SlidingWindowLimiter.earliestWait). */
  earliestWait(weight: number, cost: Cost | null, now: number): number {
    let wait = this.#requests.earliestWait(weight, now);
    if (cost === null) return wait;
    for (const counts in cost) {
      const amount = cost[counts] as number;
      if (amount > 0) wait = Math.max(wait, this.#limiters.get(counts)?.earliestWait(amount, now) ?? 0);
    }
    return wait;
  }

  /** Takes the room as pending in every currency. Call only when `wait()` has just returned 0. */
  take(weight: number, cost: Cost | null): void {
    this.#requests.take(weight);
    if (cost === null) return;
    // A currency with no window yet gets a limiter without windows: its pending amount must be known
    // if setWindows adds a window of it before this start settles.
    for (const counts in cost) this.#limiterOf(counts).take(cost[counts] as number);
  }

  #limiterOf(counts: string): SlidingWindowLimiter {
    let limiter = this.#limiters.get(counts);
    if (limiter === undefined) this.#limiters.set(counts, (limiter = new SlidingWindowLimiter([], counts)));
    return limiter;
  }

  /** Logs a pending start at `time`. Returns where its cost sits in each currency's log, or null when it costs only requests. */
  settle(weight: number, cost: Cost | null, time: number): LoggedCost | null {
    this.#requests.settle(weight, time);
    if (cost === null) return null;
    const logged: LoggedCost = {};
    for (const counts in cost) logged[counts] = this.#limiterOf(counts).settle(cost[counts] as number, time);
    return logged;
  }

  /**
   * Replaces a start's cost `from` with `to`. `logged`: where its cost sits (a settled start), or null
   * while it is pending. A pending start's room changes now; a settled start gets back what it did not
   * use (its entries keep their time) and counts what it used beyond the estimate from `now`.
   */
  amend(from: Cost | null, to: Cost, logged: LoggedCost | null, now: number): void {
    const currencies = new Set([...Object.keys(from ?? {}), ...Object.keys(to)]);
    for (const counts of currencies) {
      const limiter = this.#limiters.get(counts);
      if (limiter === undefined || counts === REQUESTS) continue;
      const before = from?.[counts] ?? 0;
      const after = to[counts] ?? 0;
      if (logged === null) limiter.repend(before, after);
      else if (after < before) limiter.refund(logged[counts] ?? -1, before - after);
      else if (after > before) limiter.add(after - before, now);
    }
  }

  /** Usage of every window, in the order they were configured. */
  usage(now: number): WindowUsage[] {
    const byCounts = new Map<string, WindowUsage[]>();
    const usage: WindowUsage[] = [];
    for (const window of this.#windows) {
      const counts = window.counts ?? REQUESTS;
      let each = byCounts.get(counts);
      if (each === undefined) byCounts.set(counts, (each = (this.#limiters.get(counts) as SlidingWindowLimiter).usage(now)));
      usage.push(each.shift() as WindowUsage);
    }
    return usage;
  }
}
