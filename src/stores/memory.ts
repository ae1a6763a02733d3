// MemoryStore: the default store, the windows and concurrency of one process kept in memory.
import type { Cost } from '../core/cost.js';
import type { WindowUsage } from '../core/options.js';
import { CostLimiter, type LoggedCost } from '../limit/cost-limiter.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../core/store.js';

/** `storeData` of a slot granted and not settled yet. */
const PENDING = 1;

/**
 * The default store: the windows of every currency live in this process, in exact sliding-window logs
 * (`CostLimiter`). Every answer is synchronous, so a start costs no promise. Concurrency is the client's
 * own semaphore; there is nothing to share.
 *
 * A slot's `storeData`: `PENDING` from its grant to its settle; then where its cost sits in the logs
 * (for a later `amend`), or undefined when it costs only requests.
 */
export class MemoryStore implements LimiterStore {
  #limiter: CostLimiter | undefined = undefined;

  open(context: StoreContext): void {
    if (this.#limiter !== undefined) {
      throw new TypeError('Expected `store` to be a store no other client uses: a store serves one client');
    }
    this.#limiter = new CostLimiter(context.limits.windows);
  }

  setLimits(limits: StoreLimits, now: number): void {
    this.#bound.setWindows(limits.windows, now);
  }

  acquire(slot: StoreSlot, now: number): number {
    const limiter = this.#bound;
    const wait = limiter.wait(slot.weight, slot.cost, now);
    if (wait === 0) {
      limiter.take(slot.weight, slot.cost);
      slot.storeData = PENDING;
    }
    return wait;
  }

  earliestWait(slot: StoreSlot, now: number): number {
    return this.#bound.earliestWait(slot.weight, slot.cost, now);
  }

  settle(slot: StoreSlot, now: number): void {
    if (slot.storeData !== PENDING) return;
    slot.storeData = this.#bound.settle(slot.weight, slot.cost, now) ?? undefined;
  }

  amend(slot: StoreSlot, cost: Cost, now: number): void {
    const data = slot.storeData;
    this.#bound.amend(slot.cost, cost, data === PENDING ? null : ((data as LoggedCost | undefined) ?? {}), now);
  }

  /** Concurrency is the client's own semaphore: only a start never settled is left to record. */
  release(slot: StoreSlot, now: number): void {
    this.settle(slot, now);
  }

  usage(now: number): WindowUsage[] {
    return this.#bound.usage(now);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  get #bound(): CostLimiter {
    if (this.#limiter === undefined) throw new Error('MemoryStore used before a client opened it');
    return this.#limiter;
  }
}
