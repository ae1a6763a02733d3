/** A quota that refills continuously: `perMs` units a millisecond, up to `limit`. */
export interface Refill {
  readonly perMs: number;
  readonly limit: number;
}

/**
 * What the server last said is left of its quota before it resets (`X-RateLimit-Remaining` and its
 * reset): no more than `remaining` units start before `until`, whatever the client's own windows allow.
 * A quota that refills continuously (a token bucket: OpenAI's and Anthropic's limits) grows back at
 * `perMs` meanwhile, up to its `limit`. It lives in the process, beside whichever store keeps the
 * windows: it is what this process last heard, not a shared count.
 */
export class ServerBudget {
  /** Undefined when the server said nothing, or its quota has reset since. */
  #budget: { remaining: number; until: number; since: number; perMs: number; limit: number } | undefined = undefined;

  /**
   * The server reported `remaining` units left at `now`, until `until` (clock time). `inFlight` units
   * already sent may still be counted against it by the server, so they come off too. `refill`: how fast
   * it refills (none: all at once at `until`), up to its `limit`. Fresher news replaces older; after `until` the
   * budget is gone and only the client's windows apply.
   */
  set(remaining: number, until: number, inFlight: number, now = until, refill?: Refill): void {
    const { perMs, limit } = refill ?? { perMs: 0, limit: Infinity };
    this.#budget = { remaining: Math.max(0, remaining - inFlight), until, since: now, perMs, limit };
  }

  /** Clock time the budget holds until (-Infinity: none). */
  get until(): number {
    return this.#budget?.until ?? -Infinity;
  }

  /** Milliseconds until `weight` units may start as far as the server's budget goes (0: now). */
  wait(weight: number, now: number): number {
    const budget = this.#budget;
    if (budget === undefined) return 0;
    if (now >= budget.until) {
      this.#budget = undefined;
      return 0;
    }
    const available = Math.min(budget.limit, budget.remaining + budget.perMs * Math.max(0, now - budget.since));
    if (available >= weight) return 0;
    const untilReset = budget.until - now;
    return budget.perMs > 0 ? Math.min(untilReset, (weight - available) / budget.perMs) : untilReset;
  }

  take(weight: number): void {
    const budget = this.#budget;
    if (budget === undefined) return;
    // With a refill, what has grown back since is spent before what was left: the level may dip below 0.
    budget.remaining = budget.perMs > 0 ? budget.remaining - weight : Math.max(0, budget.remaining - weight);
  }
}
