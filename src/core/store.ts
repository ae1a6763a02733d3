// The LimiterStore contract: where windows and concurrency are kept and every start is granted (memory, Redis).
import type { Clock } from './clock.js';
import type { Cost } from './cost.js';
import type { RateWindow, WindowUsage } from './rate-window.js';
import type { StoreError } from '../errors/store-error.js';

/** The limits a client asks its store to keep. */
export interface StoreLimits {
  /**
   * Every window at once: in any `windowMs`, at most `limit` units of the window's currency start.
   * Each window's `counts` is set (`'requests'`, the slots' `weight`, or a currency of their `cost`).
   */
  readonly windows: readonly RateWindow[];
  /**
   * Most units of weight in flight at once. The client's own semaphore keeps it for its own work; a
   * shared store keeps it across every process that shares the store's state.
   */
  readonly concurrency: number;
}

/** What the client gives a store when it binds it. */
export interface StoreContext {
  /** The client's limits at the time it binds the store; later changes come through `setLimits`. */
  readonly limits: StoreLimits;
  /** The client's clock; `now` arguments of the store's methods are read from it. */
  readonly clock: Clock;
  /**
   * Tells the client that room may have freed in a way no earlier answer could predict (another
   * process released a lease, a lost connection came back): the client asks again. Not from inside
   * `acquire` itself: the client would ask again for the same task while that answer is still out.
   */
  wake(): void;
  /** A problem with no caller to reject (a lease lost, the shared state unreachable): an `error` event. */
  report(error: StoreError): void;
  /**
   * How many tasks wait in the client's queue, the one `acquire` is asked for included: a shared store
   * tells the others whether this process will ask again (see `StoreSlot.priority`).
   */
  waiting?(): number;
  /** The priority of the first task waiting in the client's queue (undefined when none does). */
  nextPriority?(): number | undefined;
  /**
   * Request windows a server's quota tightened, heard by another process sharing the store (see
   * `sharePolicy`): the client tightens its own windows to them as if it had heard them itself.
   */
  tighten?(windows: readonly RateWindow[]): void;
}

/**
 * One task's claim on the limits, from its grant to its end. The scheduler passes the same object to
 * `acquire`, `settle` and `release`; `storeData` is the store's own, for whatever it keeps per grant.
 */
export interface StoreSlot {
  /** Units of every `'requests'` window and of the concurrency the task takes: its `weight` option, an integer >= 1. */
  readonly weight: number;
  /**
   * Units of every other currency the task takes (`{ tokens: 1_800 }`), integers >= 0, or null when it
   * costs only requests. Only currencies some window counts; a window's currency the task does not name
   * costs it 0. Replaced (after `amend`) when the real cost is known.
   */
  readonly cost: Cost | null;
  /**
   * True: the start is now, at the grant. False: the start is recorded later by `settle()` (an HTTP
   * request counts from its response headers), and until then the weight holds room in every window.
   */
  readonly settleAtStart: boolean;
  /** The store's own, per grant (undefined until the store sets it); the scheduler never reads or writes it. */
  storeData: unknown;
  /**
   * The task's priority (lower first). A shared store may hold a start back while another process
   * waits with a better one (priorities across processes); a store of one process ignores it.
   */
  readonly priority?: number;
  /**
   * The tenant key the task runs under (its `key` option), or undefined. A keyed slot must fit its
   * key's own windows (given by `setKeyLimits`) and the client's, both at once: a grant takes room in
   * both, and `settle`, `amend` and `release` apply to both.
   */
  readonly key?: string | undefined;
  /**
   * Set by the store with each refusal of a keyed slot: true when the key's own windows are full (the
   * client then lets other keys' work pass), false when the client's are. Undefined for unkeyed slots.
   */
  refusedByKey?: boolean | undefined;
}

/**
 * Where the limiter's state lives: in this process (`MemoryStore`, the default) or shared by many
 * (`RedisStore`). The scheduler is the same on either; it asks the store before every start.
 *
 * The scheduler keeps priorities, the worker pool and its own semaphore; the store decides whether a
 * start fits the windows (and, for a shared store, the shared concurrency), and records it.
 *
 * Contract:
 * - `acquire` answers `0` for a grant, or the milliseconds until a grant could be possible, or
 *   `Infinity` when no time can tell (room held by starts not yet settled, or by other processes): the
 *   store then calls `wake()` when that may have changed. It may answer synchronously or with a
 *   promise; the scheduler has at most one promise outstanding, for the first task in its queue. A
 *   promise never rejects for a refusal: it rejects only when the task must fail (the store can not
 *   decide and its failure mode says so), and the task's caller gets that error.
 * - After a grant, the scheduler calls `settle` (once, when the start counts: at once for a task, at
 *   the response for an HTTP request) and then `release` (once, when the task has ended, settled or
 *   not; an unsettled slot counts from the release). A grant the scheduler could not use (its task was
 *   aborted while the answer was on its way) is released without being settled.
 */
export interface LimiterStore {
  /** Binds the store to one client. A store serves one client; processes share through its state. */
  open(context: StoreContext): void;
  /** Applies new limits to starts to come; starts already made count in them. */
  setLimits(limits: StoreLimits, now: number): void;
  /**
   * Asks for room for `slot` now, and takes it when there is: `0` for a grant, else the milliseconds
   * until one could be possible, or `Infinity` (see the contract of `LimiterStore`). Synchronously or with
   * a promise.
   */
  acquire(slot: StoreSlot, now: number): number | Promise<number>;
  /**
   * A lower bound of the wait `acquire` would answer for `slot` (not granted yet), without asking
   * anyone: a task with `maxWaitMs` below it is refused at once. 0 when the store can not tell.
   */
  earliestWait(slot: StoreSlot, now: number): number;
  /** Records a granted slot's start at `now`: from here it counts in the windows as a start, not as held room. */
  settle(slot: StoreSlot, now: number): void;
  /**
   * The granted slot really cost `cost` (in the currencies besides requests; `slot.cost` is still the
   * estimate during the call, and the scheduler replaces it after): the windows count `cost` instead of
   * the estimate from here. A currency that cost less gives the difference back at once (as if the start
   * had cost that much); one that cost more counts the difference from `now`. At most once per slot.
   */
  amend(slot: StoreSlot, cost: Cost, now: number): void;
  /** The granted slot's task has ended: a shared store gives back its concurrency; a slot never settled counts from `now`. */
  release(slot: StoreSlot, now: number): void;
  /** How much of each window is used, as far as this process knows. */
  usage(now: number): WindowUsage[];
  /**
   * Keys (the client's `perKey` option): `key`'s own windows from now on, each with its `counts` set;
   * called before the key's first `acquire` and on every change (`setKeyLimits`). Starts already made
   * count in them. A store without the three key methods can not serve a client with `perKey`.
   */
  setKeyLimits?(key: string, windows: readonly RateWindow[], now: number): void;
  /**
   * The client let `key` go: nothing of it is queued, in flight or counted any more. A memory store
   * drops its counters; a shared store leaves them to expire (other processes may still count there).
   */
  dropKey?(key: string): void;
  /** How much of `key`'s own windows is used, as far as this process knows. */
  keyUsage?(key: string, now: number): WindowUsage[];
  /**
   * The server's word heard by this client, which holds it already (its own cooldown and budget): a
   * shared store holds every other process on its state to it too. A cooldown of `currency` (every
   * start, for `'requests'`) for `ms` from now. Fire and forget: it must not throw.
   */
  shareCooldown?(currency: string, ms: number, now: number): void;
  /**
   * As `shareCooldown`: `remaining` units of `currency` may start until `resetMs` from now (what this
   * process has in flight already taken off), for every process on the shared state.
   */
  shareBudget?(currency: string, remaining: number, resetMs: number, now: number): void;
  /**
   * As `shareCooldown`: request windows this client tightened to a server's quota (`RateLimit-Policy`,
   * a limit it revealed), for every process on the shared state (see `StoreContext.tighten`).
   */
  sharePolicy?(windows: readonly RateWindow[], now: number): void;
  /** Called by the client's `close()` once its work has ended: stop timers, drop subscriptions. */
  close(): Promise<void>;
}
