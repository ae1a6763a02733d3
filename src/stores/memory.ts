// MemoryStore: the default store, the windows and concurrency of one process kept in memory.
import type { WindowUsage } from '../core/options.js';
import { SlidingWindowLimiter } from '../limit/sliding-window.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../core/store.js';

/** `storeData` of a slot granted and not settled yet. */
const PENDING = 1;

/**
 * The default store: the windows live in this process, in an exact sliding-window log
 * (`SlidingWindowLimiter`). Every answer is synchronous, so a start costs no promise. Concurrency is
 * the client's own semaphore; there is nothing to share.
 */
export class MemoryStore implements LimiterStore {
  #limiter: SlidingWindowLimiter | undefined = undefined;

  open(context: StoreContext): void {
    if (this.#limiter !== undefined) {
      throw new TypeError('Expected `store` to be a store no other client uses: a store serves one client');
    }
    this.#limiter = new SlidingWindowLimiter(context.limits.windows);
  }

  setLimits(limits: StoreLimits, now: number): void {
    this.#bound.setWindows(limits.windows, now);
  }

  acquire(slot: StoreSlot, now: number): number {
    const limiter = this.#bound;
    const wait = limiter.wait(slot.weight, now);
    if (wait === 0) {
      limiter.take(slot.weight);
      slot.storeData = PENDING;
    }
    return wait;
  }

  earliestWait(weight: number, now: number): number {
    return this.#bound.earliestWait(weight, now);
  }

  settle(slot: StoreSlot, now: number): void {
    if (slot.storeData !== PENDING) return;
    slot.storeData = undefined;
    this.#bound.settle(slot.weight, now);
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

  get #bound(): SlidingWindowLimiter {
    if (this.#limiter === undefined) throw new Error('MemoryStore used before a client opened it');
    return this.#limiter;
  }
}
