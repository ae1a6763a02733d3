// The keys a client keeps: made on first use from `perKey`, parked while their own limits are full, let go when idle.
import type { Clock } from '../core/clock.js';
import { describeKey, normalizeKeyLimits, NO_KEY_LIMITS, type NormalizedKeyLimits, type PerKey } from '../core/normalize-keys.js';
import type { LimiterStore } from '../core/store.js';
import { IndexedHeap } from '../queue/indexed-heap.js';
import type { RequestQueue } from '../queue/request-queue.js';
import type { Job } from './job.js';
import { Tenant } from './tenant.js';
import { WakeTimer } from './wake-timer.js';

/** The idle sweep runs at most this often a `idleKeyMs`: a key may be kept up to a quarter longer. */
const SWEEPS_PER_IDLE = 4;

/**
 * Every key the client keeps state for. A key is made on its first task, with `perKey`'s limits (its
 * windows go to the store). While its own limits are full it is parked: its tasks step out of the
 * turns (the queue passes them over) until a time (one timer for every parked key: the earliest) or an
 * event of its own (its task ends or settles, its limits change, the store wakes the client).
 *
 * A key with nothing queued or in flight is quiet. Once its windows no longer count its last task and
 * no cooldown of its holds, plus `idleKeyMs`, it is let go: dropped here and in the store. No timer per
 * key: one sweep, while some key is quiet, every quarter of `idleKeyMs`.
 */
export class Tenants {
  readonly #keys = new Map<string, Tenant<Job>>();
  readonly #perKey: PerKey | undefined;
  readonly #idleKeyMs: number;
  readonly #store: LimiterStore;
  /** The store keeps keys' windows (a custom store may not: then keys may not have windows). */
  readonly #storeKeepsKeys: boolean;
  readonly #clock: Clock;
  readonly #queue: RequestQueue<Job>;
  /** Parked keys, the one whose park ends first on top (Infinity: at an event; those sit at the bottom). */
  readonly #parked = new IndexedHeap<Tenant<Job>>(
    (a, b) => a.parkedUntil < b.parkedUntil,
    (tenant, position) => {
      tenant.parkPosition = position;
    },
  );
  readonly #parkTimer: WakeTimer;
  readonly #unparked: () => void;
  readonly #quiet = new Set<Tenant<Job>>();
  #sweep: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    options: { perKey: PerKey | undefined; idleKeyMs: number; clock: Clock; spinMs: number },
    store: LimiterStore,
    queue: RequestQueue<Job>,
    unparked: () => void,
  ) {
    this.#perKey = options.perKey;
    this.#idleKeyMs = options.idleKeyMs;
    this.#clock = options.clock;
    this.#store = store;
    this.#storeKeepsKeys = typeof store.setKeyLimits === 'function';
    this.#queue = queue;
    this.#unparked = unparked;
    this.#parkTimer = new WakeTimer(() => this.#parkEnded(), options.spinMs);
  }

  /** Keys kept. */
  get size(): number {
    return this.#keys.size;
  }

  get(key: string): Tenant<Job> | undefined {
    return this.#keys.get(key);
  }

  /**
   * The key's state, made on first use. Throws, naming the key, when `perKey` can not give its limits
   * (its function throws or returns bad limits): nothing is made then.
   */
  obtain(key: string, now: number): Tenant<Job> {
    const known = this.#keys.get(key);
    if (known !== undefined) return known;
    const tenant = new Tenant<Job>(key, this.#limitsOf(key), this.#storeKeepsKeys);
    this.#tellStore(tenant, now);
    this.#keys.set(key, tenant);
    // Quiet until a task of it is queued (`busy`): a key whose first task was refused is let go too.
    this.quiet(tenant, now);
    return tenant;
  }

  /** New limits for a key (made if it was not kept): `input` fields not given keep the key's current ones. */
  setLimits(key: string, input: unknown, now: number): Tenant<Job> {
    const known = this.#keys.get(key);
    const limits = normalizeKeyLimits(`setKeyLimits(${describeKey(key)}, …)`, input, known?.limits ?? this.#limitsOf(key));
    const tenant = known ?? new Tenant<Job>(key, limits, this.#storeKeepsKeys);
    tenant.setLimits(limits);
    this.#tellStore(tenant, now);
    if (known === undefined) {
      this.#keys.set(key, tenant);
      this.quiet(tenant, now);
    }
    this.unpark(tenant);
    return tenant;
  }

  /** Its tasks are passed over until `until` (clock time; Infinity: until an event of its own unparks it). */
  park(tenant: Tenant<Job>, until: number, now: number): void {
    if (!tenant.parked) this.#queue.park(tenant);
    if (tenant.parkPosition !== -1) {
      if (until >= tenant.parkedUntil) return;
      this.#parked.removeAt(tenant.parkPosition);
    }
    tenant.parkedUntil = until;
    this.#parked.push(tenant);
    if (until !== Infinity) this.#parkTimer.arm(until - now, now);
  }

  /** Its tasks take turns again (an event that may have made room: the dispatch loop checks again). */
  unpark(tenant: Tenant<Job>): void {
    if (!tenant.parked) return;
    if (tenant.parkPosition !== -1) this.#parked.removeAt(tenant.parkPosition);
    tenant.parkedUntil = Infinity;
    this.#queue.unpark(tenant);
  }

  /** Room may have freed anywhere (the store woke the client): every key takes turns again. */
  unparkAll(): void {
    for (let tenant = this.#parked.pop(); tenant !== undefined; tenant = this.#parked.pop()) {
      tenant.parkedUntil = Infinity;
      this.#queue.unpark(tenant);
    }
    this.#parkTimer.cancel();
  }

  /** The key has work again: it is not quiet. */
  busy(tenant: Tenant<Job>): void {
    if (Number.isNaN(tenant.quietSince)) return;
    tenant.quietSince = NaN;
    this.#quiet.delete(tenant);
  }

  /** The key has nothing queued or in flight since `now`: the sweep lets it go once idle long enough. */
  quiet(tenant: Tenant<Job>, now: number): void {
    tenant.quietSince = now;
    this.#quiet.add(tenant);
    this.#sweep ??= unref(setTimeout(() => this.#sweepIdle(), Math.ceil(this.#idleKeyMs / SWEEPS_PER_IDLE)));
  }

  /** The client closed: no timer may outlive it. */
  close(): void {
    this.#parkTimer.cancel();
    if (this.#sweep !== undefined) clearTimeout(this.#sweep);
    this.#sweep = undefined;
  }

  #limitsOf(key: string): NormalizedKeyLimits {
    const perKey = this.#perKey;
    if (perKey === undefined) return NO_KEY_LIMITS;
    if (typeof perKey !== 'function') return perKey;
    const name = `perKey(${describeKey(key)})`;
    let given: unknown;
    try {
      given = perKey(key);
    } catch (error) {
      throw new TypeError(`\`${name}\` threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return normalizeKeyLimits(name, given);
  }

  #tellStore(tenant: Tenant<Job>, now: number): void {
    if (this.#storeKeepsKeys) {
      // A key with no windows of its own (and none before) has nothing in the store: no call, no state.
      if (tenant.storeKey !== undefined) this.#store.setKeyLimits?.(tenant.key, tenant.limits.windows, now);
    } else if (tenant.limits.windows.length > 0) {
      throw new TypeError(
        `Key ${describeKey(tenant.key)} has windows of its own, but the client's \`store\` does not keep keys' counters (it has no setKeyLimits, dropKey and keyUsage methods)`,
      );
    }
  }

  #parkEnded(): void {
    const now = this.#clock.now();
    let top = this.#parked.peek();
    while (top !== undefined && top.parkedUntil <= now) {
      this.unpark(top);
      top = this.#parked.peek();
    }
    if (top !== undefined && top.parkedUntil !== Infinity) this.#parkTimer.arm(top.parkedUntil - now, now);
    this.#unparked();
  }

  #sweepIdle(): void {
    this.#sweep = undefined;
    const now = this.#clock.now();
    for (const tenant of this.#quiet) {
      if (now < tenant.forgetsAt() + this.#idleKeyMs) continue;
      this.#quiet.delete(tenant);
      this.unpark(tenant);
      this.#keys.delete(tenant.key);
      if (tenant.storeKey !== undefined) this.#store.dropKey?.(tenant.key);
    }
    if (this.#quiet.size > 0) {
      this.#sweep = unref(setTimeout(() => this.#sweepIdle(), Math.ceil(this.#idleKeyMs / SWEEPS_PER_IDLE)));
    }
  }
}

function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  timer.unref();
  return timer;
}
