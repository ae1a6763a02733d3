/**
 * What the server last said is left of its quota before its window resets (`X-RateLimit-Remaining`
 * and its reset): no more than `remaining` units start before `until`, whatever the client's own
 * windows allow. It lives in the process, beside whichever store keeps the windows: it is what this
 * process last heard, not a shared count.
 */
export class ServerBudget {
  /** Undefined when the server said nothing, or its window has reset since. */
  #budget: { remaining: number; until: number } | undefined = undefined;

  /**
   * The server reported `remaining` units left until `until` (clock time). `inFlight` units already
   * sent may still be counted against it by the server, so they come off too. Fresher news replaces
   * older; after `until` the budget is gone and only the client's windows apply.
   */
  set(remaining: number, until: number, inFlight: number): void {
    this.#budget = { remaining: Math.max(0, remaining - inFlight), until };
  }

  /** Milliseconds until `weight` units may start as far as the server's budget goes (0: now). */
  wait(weight: number, now: number): number {
    const budget = this.#budget;
    if (budget === undefined) return 0;
    if (now >= budget.until) {
      this.#budget = undefined;
      return 0;
    }
    return budget.remaining < weight ? budget.until - now : 0;
  }

  take(weight: number): void {
    if (this.#budget !== undefined) this.#budget.remaining = Math.max(0, this.#budget.remaining - weight);
  }
}
