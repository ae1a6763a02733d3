// MemoryStore: the default store, the windows and concurrency of one process kept in memory.
import type { Cost } from '../core/cost.js';
import type { RateWindow, WindowUsage } from '../core/options.js';
import { CostLimiter, type LoggedCost } from '../limit/cost-limiter.js';
import type { LimiterStore, StoreContext, StoreLimits, StoreSlot } from '../core/store.js';

/** `storeData` of a slot granted and not settled yet. */
const PENDING = 1;

/** `storeData` of a keyed slot once settled: where its cost sits in the client's logs and in its key's. */
interface KeyedLog {
  client: LoggedCost | null;
  key: LoggedCost | null;
}

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
  /** Each key's own counters (see `setKeyLimits`), beside the client's. */
  readonly #keys = new Map<string, CostLimiter>();

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
    const { weight, cost } = slot;
    // A key never given windows has no counters here: nothing of it holds the slot back.
    const keyed = slot.key === undefined ? undefined : this.#keys.get(slot.key);
    if (keyed !== undefined) {
      // The key's own windows first: when they are full, the client lets other keys' work pass.
      const keyWait = keyed.wait(weight, cost, now);
      slot.refusedByKey = keyWait > 0;
      if (keyWait > 0) return keyWait;
      const wait = limiter.wait(weight, cost, now);
      if (wait > 0) return wait;
      keyed.take(weight, cost);
    } else {
      const wait = limiter.wait(weight, cost, now);
      if (wait > 0) return wait;
    }
    limiter.take(weight, cost);
    slot.storeData = PENDING;
    return 0;
  }

  earliestWait(slot: StoreSlot, now: number): number {
    const wait = this.#bound.earliestWait(slot.weight, slot.cost, now);
    const keyed = slot.key === undefined ? undefined : this.#keys.get(slot.key);
    return keyed === undefined ? wait : Math.max(wait, keyed.earliestWait(slot.weight, slot.cost, now));
  }

  settle(slot: StoreSlot, now: number): void {
    if (slot.storeData !== PENDING) return;
    const client = this.#bound.settle(slot.weight, slot.cost, now);
    if (slot.key === undefined) {
      slot.storeData = client ?? undefined;
    } else {
      const key = this.#keys.get(slot.key)?.settle(slot.weight, slot.cost, now) ?? null;
      slot.storeData = { client, key } satisfies KeyedLog;
    }
  }

  amend(slot: StoreSlot, cost: Cost, now: number): void {
    const data = slot.storeData;
    if (slot.key === undefined) {
      this.#bound.amend(slot.cost, cost, data === PENDING ? null : ((data as LoggedCost | undefined) ?? {}), now);
      return;
    }
    const logged = data === PENDING ? null : (data as KeyedLog);
    this.#bound.amend(slot.cost, cost, logged === null ? null : (logged.client ?? {}), now);
    this.#keys.get(slot.key)?.amend(slot.cost, cost, logged === null ? null : (logged.key ?? {}), now);
  }

  setKeyLimits(key: string, windows: readonly RateWindow[], now: number): void {
    const keyed = this.#keys.get(key);
    if (keyed !== undefined) keyed.setWindows(windows, now);
    // A key with no windows costs nothing here until it has some.
    else if (windows.length > 0) this.#keys.set(key, new CostLimiter(windows));
  }

  dropKey(key: string): void {
    this.#keys.delete(key);
  }

  keyUsage(key: string, now: number): WindowUsage[] {
    return this.#keys.get(key)?.usage(now) ?? [];
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
