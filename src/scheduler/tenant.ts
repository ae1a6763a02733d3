// One key's state in the scheduler: its limits, its place in the turns, what its server said, its counters.
import type { NormalizedKeyLimits } from '../core/normalize-keys.js';
import type { LearnedRate } from '../core/options.js';
import type { Lane, LaneGroup } from '../queue/fair-queue.js';
import { RefusalLearning } from '../retry/learned-rate.js';
import { ServerWord } from './server-word.js';
import { TaskCounts } from './task-counts.js';
import { WeightLimits } from './weight-limits.js';

/**
 * A key (a tenant: a shop, an installation, a customer's API key) as the scheduler keeps it while it
 * is active: a key owns limits as the client does. Its windows live in the store (`setKeyLimits`); the
 * rest lives here: its concurrency, its queue bound, its turns among keys (its lanes in the queue), the
 * server's word on its requests (a cooldown, a budget, a learned rate: made only when the server says
 * something) and its counters for `stats({ key })` (a TaskCounts, as the client's). An idle key is let go (see Tenants). `J` is the
 * scheduler's Job, the item of its lanes (a parameter, so that this file needs nothing of job.ts).
 */
export class Tenant<J = unknown> extends TaskCounts implements LaneGroup<J> {
  readonly key: string;
  lane: Lane<J> | null = null;
  lanes: Map<number, Lane<J>> | null = null;
  limits: NormalizedKeyLimits;
  /**
   * Whether a weight and cost could ever fit the key's own windows and concurrency: shared by every key
   * of the same limits (a `perKey` object), or null when it has none of its own.
   */
  fits: WeightLimits | null;
  /** Its lanes are out of the turns: its own limits are full (see FairQueue#park). */
  parked = false;
  /** Clock time the park ends by itself (a window frees, a cooldown ends); Infinity: at an event of its own. */
  parkedUntil = Infinity;
  /** Its place in the parked heap (see Tenants), -1 when not there. */
  parkPosition = -1;
  /** Units of weight of its tasks in flight (or holding a worker for their store answer). */
  held = 0;
  /** Its tasks waiting: in line, outside a full client queue, or awaiting a store's answer. */
  queued = 0;
  /** Clock time it last had nothing queued or in flight; NaN while it has. */
  quietSince = NaN;
  #server: ServerWord | null = null;
  #learning: RefusalLearning | null = null;

  /**
   * The key as the store sees it (StoreSlot.key): undefined while the key has no windows of its own
   * (the store has nothing of it to count) or the store keeps no keys' counters.
   */
  storeKey: string | undefined;
  readonly #storeKeepsKeys: boolean;

  constructor(key: string, limits: NormalizedKeyLimits, storeKeepsKeys: boolean) {
    super();
    this.key = key;
    this.#storeKeepsKeys = storeKeepsKeys;
    this.storeKey = storeKeepsKeys && limits.windows.length > 0 ? key : undefined;
    this.limits = limits;
    this.fits = fitsOf(limits);
  }

  /** Its share among the keys of a priority (its `weight`). */
  get share(): number {
    return this.limits.weight;
  }

  /** New limits for work not yet started. */
  setLimits(limits: NormalizedKeyLimits): void {
    this.limits = limits;
    // Once the store counts the key it goes on (what it counted still counts); it starts when windows come.
    if (this.#storeKeepsKeys && limits.windows.length > 0) this.storeKey = this.key;
    this.fits = fitsOf(limits);
  }

  /** What the server said on its requests, or null while it said nothing. */
  get server(): ServerWord | null {
    return this.#server;
  }

  /** What the server said on its requests, made when it first says something. */
  get heard(): ServerWord {
    return (this.#server ??= new ServerWord());
  }

  get learning(): RefusalLearning {
    return (this.#learning ??= new RefusalLearning());
  }

  /** What bare refusals on its requests taught, or null while none came. */
  get lessons(): RefusalLearning | null {
    return this.#learning;
  }

  /** What bare refusals on its requests taught, if anything (see RefusalLearning). */
  get learnedRate(): LearnedRate | undefined {
    return this.#learning?.rate;
  }

  /** Its concurrency has room for `weight` more. */
  hasRoomFor(weight: number): boolean {
    return this.held + weight <= this.limits.concurrency;
  }

  /** Nothing of it queued or in flight. */
  get quiet(): boolean {
    return this.queued === 0 && this.held === 0;
  }

  /**
   * Clock time from which its state no longer matters, quiet since `quietSince`: its windows and
   * buckets have forgotten its last task, and any cooldown or budget the server gave has ended.
   */
  forgetsAt(): number {
    const since = this.quietSince;
    let longest = 0;
    for (const window of this.limits.windows) {
      // A bucket is full again after burst units' worth of its rate; a window forgets after its length.
      const span = window.burst === undefined ? window.windowMs : (window.windowMs * window.burst) / window.limit;
      longest = Math.max(longest, span);
    }
    return Math.max(since + longest, this.#server?.quietAfter(since) ?? since);
  }
}

/** One WeightLimits per limits object: keys made from the same `perKey` object share theirs. */
const fitsByLimits = new WeakMap<NormalizedKeyLimits, WeightLimits>();

function fitsOf(limits: NormalizedKeyLimits): WeightLimits | null {
  if (limits.windows.length === 0 && limits.concurrency === Infinity) return null;
  let fits = fitsByLimits.get(limits);
  if (fits === undefined) fitsByLimits.set(limits, (fits = new WeightLimits(limits.windows, { capacity: limits.concurrency })));
  return fits;
}
