// The limits of every currency at once: a task starts when each currency it costs has room for its cost
// in every window and every bucket of that currency.
import type { Cost } from '../core/cost.js';
import { REQUESTS } from '../core/cost.js';
import type { RateWindow, WindowUsage } from '../core/options.js';
import { SlidingWindowLimiter } from './sliding-window.js';
import { type BucketShape, TokenBucket } from './token-bucket.js';

/**
 * Where a settled start's cost sits in each currency's log (for refunds): currency → log index, and
 * `'@'` (no currency is named so) → when it settled, for its buckets.
 */
export type LoggedCost = Record<string, number>;

/** One currency's counters: its sliding windows (one log) and its buckets. */
class Counters {
  readonly windows: SlidingWindowLimiter;
  buckets: readonly TokenBucket[] = NO_BUCKETS;

  constructor(counts: string) {
    this.windows = new SlidingWindowLimiter([], counts);
  }

  wait(amount: number, now: number, pendingHold: number): number {
    let wait = pendingHold === Infinity ? this.windows.wait(amount, now) : this.windows.earliestWait(amount, now);
    for (const bucket of this.buckets) wait = Math.max(wait, bucket.wait(amount, now, pendingHold));
    return wait;
  }
}

/** Shared by every currency without buckets (most): an array costs memory of its own. */
const NO_BUCKETS: readonly TokenBucket[] = Object.freeze([]);

const isBucket = (window: RateWindow): window is RateWindow & BucketShape => window.burst !== undefined;
const sameShape = (bucket: TokenBucket, window: BucketShape) =>
  bucket.limit === window.limit && bucket.windowMs === window.windowMs && bucket.burst === window.burst;

/**
 * Exact limits for every currency at once. `'requests'` counts each start's weight; another currency
 * (`'tokens'`) each start's cost in it. A currency has sliding windows (one log under all of them, see
 * SlidingWindowLimiter) and buckets (see TokenBucket), and a start must fit every one of every
 * currency it costs anything in; a currency it costs 0 of does not hold it back.
 *
 * A currency's counters live as long as the limiter, even when `setWindows` drops its limits: a
 * start's position in its log must stay valid for a later refund, and its pending amount known.
 */
export class CostLimiter {
  /** The requests counters, looked up on every start. */
  readonly #requests = new Counters(REQUESTS);
  /** The other currencies' counters, made when a currency first appears (most limiters count requests only). */
  #others: Map<string, Counters> | null = null;
  /** The windows as configured, in their order, for `usage()`. */
  #windows: readonly RateWindow[] = [];

  constructor(windows: readonly RateWindow[]) {
    this.setWindows(windows, 0);
  }

  /**
   * Replaces the limits of every currency; starts already made count in the new ones. A bucket of the
   * same shape keeps its level; a new one starts with what its currency started in its last `windowMs`
   * (as far as the windows' log reaches, and what the old buckets still miss) already taken, so that
   * switching a window to a bucket can not open a burst.
   */
  setWindows(windows: readonly RateWindow[], now: number): void {
    this.#windows = windows;
    for (const window of windows) this.#of(window.counts ?? REQUESTS);
    for (const [counts, counters] of this.#each()) {
      const mine = windows.filter((window) => (window.counts ?? REQUESTS) === counts);
      counters.windows.setWindows(
        mine.filter((window) => !isBucket(window)),
        now,
      );
      const old = counters.buckets;
      const reused = new Set<TokenBucket>();
      const shapes = mine.filter(isBucket);
      counters.buckets =
        shapes.length === 0
          ? NO_BUCKETS
          : shapes.map((shape) => {
              // Each old bucket serves one new one: two buckets of one shape stay two.
              const kept = old.find((bucket) => sameShape(bucket, shape) && !reused.has(bucket));
              if (kept !== undefined) {
                reused.add(kept);
                return kept;
              }
              const interval = shape.windowMs / shape.limit;
              // What was settled recently is taken already; what is pending settles into the new bucket too.
              const missing = Math.max(
                counters.windows.recent(shape.windowMs, now),
                ...old.map((bucket) => Math.max(0, bucket.tat - now) / (bucket.windowMs / bucket.limit)),
              );
              const tat = missing > 0 ? now + missing * interval : -Infinity;
              return new TokenBucket(shape, tat, counters.windows.pending);
            });
    }
  }

  /** Milliseconds until `weight` requests and `cost` fit every limit: 0 now, Infinity when unsettled starts hold the room. */
  wait(weight: number, cost: Cost | null, now: number): number {
    return this.#wait(weight, cost, now, Infinity);
  }

  /** A lower bound of `wait()` (see SlidingWindowLimiter.earliestWait). */
  earliestWait(weight: number, cost: Cost | null, now: number): number {
    return this.#wait(weight, cost, now, 0);
  }

  #wait(weight: number, cost: Cost | null, now: number, pendingHold: number): number {
    let wait = this.#requests.wait(weight, now, pendingHold);
    if (cost === null) return wait;
    for (const counts in cost) {
      const amount = cost[counts] as number;
      if (amount > 0) wait = Math.max(wait, this.#find(counts)?.wait(amount, now, pendingHold) ?? 0);
    }
    return wait;
  }

  /** Takes the room as pending in every currency. Call only when `wait()` has just returned 0. */
  take(weight: number, cost: Cost | null): void {
    this.#take(this.#requests, weight);
    if (cost === null) return;
    // A currency with no limit yet gets counters too: its pending amount must be known if setWindows
    // adds a limit of it before this start settles.
    for (const counts in cost) this.#take(this.#of(counts), cost[counts] as number);
  }

  #take(counters: Counters, amount: number): void {
    counters.windows.take(amount);
    for (const bucket of counters.buckets) bucket.take(amount);
  }

  /** Logs a pending start at `time`. Returns where its cost sits in each currency's log, or null when it costs only requests. */
  settle(weight: number, cost: Cost | null, time: number): LoggedCost | null {
    this.#settle(this.#requests, weight, time);
    if (cost === null) return null;
    const logged: LoggedCost = { '@': time };
    for (const counts in cost) logged[counts] = this.#settle(this.#of(counts), cost[counts] as number, time);
    return logged;
  }

  #settle(counters: Counters, amount: number, time: number): number {
    for (const bucket of counters.buckets) bucket.settle(amount, time);
    return counters.windows.settle(amount, time);
  }

  /**
   * Replaces a start's cost `from` with `to`. `logged`: where its cost sits (a settled start), or null
   * while it is pending. A pending start's room changes now; a settled start gets back what it did not
   * use (its log entries keep their time; its buckets get the units back) and counts what it used beyond
   * the estimate from `now`.
   */
  amend(from: Cost | null, to: Cost, logged: LoggedCost | null, now: number): void {
    const currencies = new Set([...Object.keys(from ?? {}), ...Object.keys(to)]);
    for (const counts of currencies) {
      const counters = counts === REQUESTS ? undefined : this.#find(counts);
      if (counters === undefined) continue;
      const before = from?.[counts] ?? 0;
      const after = to[counts] ?? 0;
      if (logged === null) {
        counters.windows.repend(before, after);
        for (const bucket of counters.buckets) bucket.repend(before, after);
      } else if (after < before) {
        counters.windows.refund(logged[counts] ?? -1, before - after);
        for (const bucket of counters.buckets) bucket.refund(before - after, logged['@'] ?? -Infinity, before, now);
      } else if (after > before) {
        counters.windows.add(after - before, now);
        for (const bucket of counters.buckets) bucket.add(after - before, now);
      }
    }
  }

  /** Usage of every window and bucket, in the order they were configured. */
  usage(now: number): WindowUsage[] {
    const windowUsage = new Map<string, WindowUsage[]>();
    /** Per currency, how many of its buckets were shown: they are in the configured order. */
    const bucketsShown = new Map<string, number>();
    const usage: WindowUsage[] = [];
    for (const window of this.#windows) {
      const counts = window.counts ?? REQUESTS;
      const counters = this.#find(counts) as Counters;
      if (isBucket(window)) {
        const shown = bucketsShown.get(counts) ?? 0;
        bucketsShown.set(counts, shown + 1);
        usage.push((counters.buckets[shown] as TokenBucket).usage(now, counts));
        continue;
      }
      let each = windowUsage.get(counts);
      if (each === undefined) windowUsage.set(counts, (each = counters.windows.usage(now)));
      usage.push(each.shift() as WindowUsage);
    }
    return usage;
  }

  #find(counts: string): Counters | undefined {
    return counts === REQUESTS ? this.#requests : (this.#others?.get(counts) ?? undefined);
  }

  #of(counts: string): Counters {
    if (counts === REQUESTS) return this.#requests;
    this.#others ??= new Map();
    let counters = this.#others.get(counts);
    if (counters === undefined) this.#others.set(counts, (counters = new Counters(counts)));
    return counters;
  }

  /** Every currency's counters, requests first. */
  *#each(): IterableIterator<[string, Counters]> {
    yield [REQUESTS, this.#requests];
    if (this.#others !== null) yield* this.#others;
  }
}
