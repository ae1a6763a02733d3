// What the server last said of its limits, per currency: cooldowns and remaining budgets that hold starts back.
import { type Cost, REQUESTS } from '../core/cost.js';
import { type Refill, ServerBudget } from '../limit/server-budget.js';
import { TokenBucket } from '../limit/token-bucket.js';

/** A task as the server's word sees it: its weight (requests) and its cost in other currencies. */
interface Costly {
  readonly weight: number;
  readonly cost: Cost | null;
}

/**
 * The server's word, kept in this process: a cooldown (a Retry-After, a bare refusal) and a remaining
 * budget until a reset, each for a currency. Every task costs requests, so a requests cooldown or
 * budget holds every start; one of another currency (`tokens`) holds only tasks that cost some of it.
 */
export class ServerWord {
  /** Clock time until which no request starts: the requests cooldown. */
  cooldownUntil = -Infinity;
  readonly #requestsBudget = new ServerBudget();
  /** The other currencies' cooldowns (clock time) and budgets; empty unless a server spoke of them. */
  readonly #cooldowns = new Map<string, number>();
  readonly #budgets = new Map<string, ServerBudget>();
  /**
   * The rate learned from bare refusals, paced evenly: a bucket of one start (whatever its weight),
   * refilled at the rate. Undefined while nothing was learned.
   */
  #pacing: TokenBucket | undefined = undefined;
  /** The pace held a start back since the last `pacedSince()`: only then may the learned rate climb. */
  #paceHeld = false;

  /** Whether the learned pace held a start back since the last call. */
  pacedSince(): boolean {
    const held = this.#paceHeld;
    this.#paceHeld = false;
    return held;
  }

  /** Paces starts at `perSecond` evenly from now on (undefined: no pacing). */
  pace(perSecond: number | undefined, now: number): void {
    if (perSecond === undefined) {
      this.#pacing = undefined;
      return;
    }
    const shape = { limit: 1, windowMs: 1_000 / perSecond, burst: 1 };
    if (this.#pacing === undefined) this.#pacing = new TokenBucket(shape);
    else this.#pacing.reshape(shape, now);
  }

  /** Holds starts that cost `currency` until `until` (clock time). False when an equal or later one holds already. */
  coolDown(until: number, currency = REQUESTS): boolean {
    if (currency === REQUESTS) {
      if (until <= this.cooldownUntil) return false;
      this.cooldownUntil = until;
      return true;
    }
    if (until <= (this.#cooldowns.get(currency) ?? -Infinity)) return false;
    this.#cooldowns.set(currency, until);
    return true;
  }

  /** See ServerBudget#set. */
  setBudget(remaining: number, until: number, inFlight: number, now: number, currency = REQUESTS, refill?: Refill): void {
    if (currency === REQUESTS) return this.#requestsBudget.set(remaining, until, inFlight, now, refill);
    let budget = this.#budgets.get(currency);
    if (budget === undefined) this.#budgets.set(currency, (budget = new ServerBudget()));
    budget.set(remaining, until, inFlight, now, refill);
  }

  /** Milliseconds until no cooldown holds `task` (<= 0: none does). */
  coolingWait(task: Costly, now: number): number {
    let wait = this.cooldownUntil - now;
    const cost = task.cost;
    if (cost === null || this.#cooldowns.size === 0) return wait;
    for (const [currency, until] of this.#cooldowns) {
      if (until <= now) this.#cooldowns.delete(currency);
      else if ((cost[currency] ?? 0) > 0) wait = Math.max(wait, until - now);
    }
    return wait;
  }

  /** Milliseconds until every budget (and the learned pace) has room for `task` (0: now). */
  budgetWait(task: Costly, now: number): number {
    let wait = this.#requestsBudget.wait(task.weight, now);
    if (this.#pacing !== undefined) {
      const paced = this.#pacing.wait(1, now);
      if (paced > 0) this.#paceHeld = true;
      wait = Math.max(wait, paced);
    }
    const cost = task.cost;
    if (cost === null || this.#budgets.size === 0) return wait;
    for (const [currency, budget] of this.#budgets) {
      const amount = cost[currency] ?? 0;
      if (amount > 0) wait = Math.max(wait, budget.wait(amount, now));
    }
    return wait;
  }

  /**
   * Clock time after which nothing the server said holds any start back (cooldowns and budgets over); a
   * learned pace is forgotten with the key that learned it.
   */
  quietAfter(now: number): number {
    let until = Math.max(now, this.cooldownUntil, this.#requestsBudget.until);
    for (const end of this.#cooldowns.values()) until = Math.max(until, end);
    for (const budget of this.#budgets.values()) until = Math.max(until, budget.until);
    return until;
  }

  /** A start at `now`: it comes off every budget it costs in, and takes its turn in the learned pace. */
  take(task: Costly, now: number): void {
    this.#requestsBudget.take(task.weight);
    this.#pacing?.add(1, now);
    const cost = task.cost;
    if (cost === null || this.#budgets.size === 0) return;
    for (const [currency, budget] of this.#budgets) budget.take(cost[currency] ?? 0);
  }
}
