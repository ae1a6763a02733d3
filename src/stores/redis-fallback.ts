// LocalShare: this process's share of the shared limits, which `failureMode: 'local'` answers from while
// Redis is down; it records every start of this process, wherever it was granted.
import { type Cost, REQUESTS } from '../core/cost.js';
import type { RateWindow, WindowUsage } from '../core/options.js';
import type { StoreLimits } from '../core/store.js';
import { CostLimiter, type LoggedCost } from '../limit/cost-limiter.js';

/** One process's part of a limit shared by `clients` live processes; never 0, so work can still move. */
function share(limit: number, clients: number): number {
  return limit === Infinity ? Infinity : Math.max(1, Math.floor(limit / clients));
}

/**
 * This process's share of the shared limits, for `RedisStore`'s `failureMode: 'local'` while Redis is
 * down: each window allows `max(1, floor(limit / clients))` and the concurrency likewise, `clients` being
 * the live-client count Redis last reported (1 until it has reported one); a bucket refills at that
 * share of its rate and holds that share of its burst.
 *
 * It records every start of this process, granted by Redis or by itself, so that an outage right after
 * a burst does not hand out a fresh share on top of it: the windows (of every currency) see this
 * process's own recent starts and their amended costs, and `inFlight` its own running work, wherever it
 * was granted.
 */
export class LocalShare {
  #limits: StoreLimits;
  #clients = 1;
  #limiter: CostLimiter;
  /** The smallest share of each currency's windows: the most of it a start is held to. */
  #largest = new Map<string, number>();
  /** Units of weight granted to this process (by Redis or by this share) and not released yet. */
  #inFlight = 0;

  constructor(limits: StoreLimits) {
    this.#limits = limits;
    this.#limiter = new CostLimiter(this.#shares());
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
   * Milliseconds until a start of `weight` and `cost` fits this process's share: 0 now, Infinity while
   * its own running or unsettled work holds the room (this process's scheduler asks again when that
   * work settles or ends). An amount above a share is let through alone, once nothing of it is left in
   * the way: a share can be smaller than the heaviest task the full limits allow, and that task must
   * not wait forever.
   */
  wait(weight: number, cost: Cost | null, now: number): number {
    const concurrency = share(this.#limits.concurrency, this.#clients);
    if (this.#inFlight > 0 && this.#inFlight + weight > concurrency) return Infinity;
    return this.#limiter.wait(this.#fitted(REQUESTS, weight), this.#fittedCost(cost), now);
  }

  earliestWait(weight: number, cost: Cost | null, now: number): number {
    return this.#limiter.earliestWait(this.#fitted(REQUESTS, weight), this.#fittedCost(cost), now);
  }

  /** A start granted to this process (by anyone): pending in every window, and in flight. */
  take(weight: number, cost: Cost | null): void {
    this.#limiter.take(weight, cost);
    this.#inFlight += weight;
  }

  /** Its start is recorded at `now`: it expires from each window `windowMs` later. Returns where its cost sits, for `amend`. */
  settle(weight: number, cost: Cost | null, now: number): LoggedCost | null {
    return this.#limiter.settle(weight, cost, now);
  }

  /** A start's real cost is known (see `CostLimiter.amend`; `logged`: null while it is not settled here). */
  amend(estimate: Cost | null, cost: Cost, logged: LoggedCost | null, now: number): void {
    this.#limiter.amend(estimate, cost, logged, now);
  }

  /** Its work has ended (settle it first). */
  release(weight: number): void {
    this.#inFlight -= weight;
  }

  /** This process's share of each window and what it has used of it (same order as the limits' windows). */
  usage(now: number): WindowUsage[] {
    return this.#limiter.usage(now);
  }

  /** This process's own use of each configured window (same order as the limits' windows). */
  used(now: number): number[] {
    return this.usage(now).map((window) => window.used);
  }

  #fitted(currency: string, amount: number): number {
    return Math.min(amount, this.#largest.get(currency) ?? Infinity);
  }

  #fittedCost(cost: Cost | null): Cost | null {
    if (cost === null) return null;
    const fitted: Record<string, number> = {};
    for (const [name, amount] of Object.entries(cost)) fitted[name] = this.#fitted(name, amount);
    return fitted;
  }

  /** A bucket's share is a share of its rate and of its burst: the most a start is held to is the burst's. */
  #shares(): RateWindow[] {
    this.#largest = new Map();
    return this.#limits.windows.map((window) => {
      const counts = window.counts ?? REQUESTS;
      const limit = share(window.limit, this.#clients);
      const burst = window.burst === undefined ? undefined : share(window.burst, this.#clients);
      this.#largest.set(counts, Math.min(burst ?? limit, this.#largest.get(counts) ?? Infinity));
      return burst === undefined ? { limit, windowMs: window.windowMs, counts } : { limit, windowMs: window.windowMs, counts, burst };
    });
  }
}
