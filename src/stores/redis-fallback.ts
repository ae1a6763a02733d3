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
 * Each window's share (a bucket's share is a share of its rate and of its burst), and per currency the
 * smallest share: the most of it a start is held to.
 */
function sharesOf(windows: readonly RateWindow[], clients: number): { windows: RateWindow[]; largest: Map<string, number> } {
  const largest = new Map<string, number>();
  const shares = windows.map((window) => {
    const counts = window.counts ?? REQUESTS;
    const limit = share(window.limit, clients);
    const burst = window.burst === undefined ? undefined : share(window.burst, clients);
    largest.set(counts, Math.min(burst ?? limit, largest.get(counts) ?? Infinity));
    return burst === undefined ? { limit, windowMs: window.windowMs, counts } : { limit, windowMs: window.windowMs, counts, burst };
  });
  return { windows: shares, largest };
}

/** `amount` held to `largest` (see `LocalShare.wait`). */
function fitted(largest: Map<string, number>, currency: string, amount: number): number {
  return Math.min(amount, largest.get(currency) ?? Infinity);
}

function fittedCost(largest: Map<string, number>, cost: Cost | null): Cost | null {
  if (cost === null) return null;
  const held: Record<string, number> = {};
  for (const [name, amount] of Object.entries(cost)) held[name] = fitted(largest, name, amount);
  return held;
}

/** A tenant key's share: its windows as this process knows them, and its own starts against their shares. */
interface KeyShare {
  windows: readonly RateWindow[];
  limiter: CostLimiter;
  largest: Map<string, number>;
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
 *
 * Each tenant key likewise: its own windows' shares, and this process's own starts of the key (granted
 * by Redis or by itself), so that while Redis is down no keyed start goes beyond its key's windows as
 * this process knows them.
 */
export class LocalShare {
  #limits: StoreLimits;
  #clients = 1;
  #limiter: CostLimiter;
  /** The smallest share of each currency's windows: the most of it a start is held to. */
  #largest = new Map<string, number>();
  /** Units of weight granted to this process (by Redis or by this share) and not released yet. */
  #inFlight = 0;
  /** Each tenant key's share, from its `setKeyLimits` until its `dropKey`. */
  readonly #keys = new Map<string, KeyShare>();

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
    for (const keyed of this.#keys.values()) this.#shareKey(keyed, now);
  }

  /** A tenant key's own windows from now on (its starts already recorded still count). */
  setKeyLimits(key: string, windows: readonly RateWindow[], now: number): void {
    const keyed = this.#keys.get(key);
    if (keyed === undefined) {
      const { windows: shares, largest } = sharesOf(windows, this.#clients);
      this.#keys.set(key, { windows, limiter: new CostLimiter(shares), largest });
      return;
    }
    keyed.windows = windows;
    this.#shareKey(keyed, now);
  }

  /** The key's windows as this process knows them (undefined before its `setKeyLimits`). */
  keyWindows(key: string): readonly RateWindow[] | undefined {
    return this.#keys.get(key)?.windows;
  }

  dropKey(key: string): void {
    this.#keys.delete(key);
  }

  /** Milliseconds until a start of `weight` and `cost` fits `key`'s share (0: now; see `wait`). */
  keyWait(key: string, weight: number, cost: Cost | null, now: number): number {
    const keyed = this.#keys.get(key);
    if (keyed === undefined) return 0;
    return keyed.limiter.wait(fitted(keyed.largest, REQUESTS, weight), fittedCost(keyed.largest, cost), now);
  }

  keyEarliestWait(key: string, weight: number, cost: Cost | null, now: number): number {
    const keyed = this.#keys.get(key);
    if (keyed === undefined) return 0;
    return keyed.limiter.earliestWait(fitted(keyed.largest, REQUESTS, weight), fittedCost(keyed.largest, cost), now);
  }

  /** `key`'s share and what this process used of it, window by window; `[]` for a key it does not know. */
  keyUsage(key: string, now: number): WindowUsage[] {
    return this.#keys.get(key)?.limiter.usage(now) ?? [];
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

  /** A start granted to this process (by anyone): pending in every window (its key's too), and in flight. */
  take(weight: number, cost: Cost | null, key?: string): void {
    this.#limiter.take(weight, cost);
    if (key !== undefined) this.#keys.get(key)?.limiter.take(weight, cost);
    this.#inFlight += weight;
  }

  /** Its start is recorded at `now`: it expires from each window `windowMs` later. Returns where its cost sits, for `amend`. */
  settle(weight: number, cost: Cost | null, now: number): LoggedCost | null {
    return this.#limiter.settle(weight, cost, now);
  }

  /** `settle` for the key's own windows (nothing if the key was let go meanwhile). */
  settleKey(key: string, weight: number, cost: Cost | null, now: number): LoggedCost | null {
    return this.#keys.get(key)?.limiter.settle(weight, cost, now) ?? null;
  }

  /** A start's real cost is known (see `CostLimiter.amend`; `logged`: null while it is not settled here). */
  amend(estimate: Cost | null, cost: Cost, logged: LoggedCost | null, now: number): void {
    this.#limiter.amend(estimate, cost, logged, now);
  }

  /** `amend` for the key's own windows. */
  amendKey(key: string, estimate: Cost | null, cost: Cost, logged: LoggedCost | null, now: number): void {
    this.#keys.get(key)?.limiter.amend(estimate, cost, logged, now);
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
    return fitted(this.#largest, currency, amount);
  }

  #fittedCost(cost: Cost | null): Cost | null {
    return fittedCost(this.#largest, cost);
  }

  /** A bucket's share is a share of its rate and of its burst: the most a start is held to is the burst's. */
  #shares(): RateWindow[] {
    const { windows, largest } = sharesOf(this.#limits.windows, this.#clients);
    this.#largest = largest;
    return windows;
  }

  #shareKey(keyed: KeyShare, now: number): void {
    const { windows, largest } = sharesOf(keyed.windows, this.#clients);
    keyed.limiter.setWindows(windows, now);
    keyed.largest = largest;
  }
}
