// The rate windows the loop enforces, and whether a task's weight and cost could ever fit them and the concurrency.
import { type Cost, normalizeCost, REQUESTS } from '../core/cost.js';
import type { RateWindow } from '../core/options.js';

/**
 * The windows a client is configured with, as the dispatch loop sees them (the store keeps what they
 * count), the currencies they count, and the check that refuses a task heavier than a window's `limit`
 * or the `concurrency`: such a task could never start, so it is refused at once instead of waiting forever.
 */
export class WeightLimits {
  /** Where the concurrency is read (the semaphore, or a key's limits). */
  readonly #semaphore: { readonly capacity: number };
  #windows: readonly RateWindow[];
  /** Per currency, the window with the smallest `limit` (a bucket's `burst`): the most that can ever start at once. */
  #tightest = new Map<string, RateWindow>();
  /** Every currency some window counts, and `'requests'`. */
  #currencies: ReadonlySet<string> = new Set([REQUESTS]);

  constructor(windows: readonly RateWindow[], semaphore: { readonly capacity: number }) {
    this.#semaphore = semaphore;
    this.#windows = windows;
    this.windows = windows;
  }

  get windows(): readonly RateWindow[] {
    return this.#windows;
  }

  set windows(windows: readonly RateWindow[]) {
    this.#windows = windows;
    const tightest = new Map<string, RateWindow>([[REQUESTS, { limit: Infinity, windowMs: 0, counts: REQUESTS }]]);
    for (const window of windows) {
      const counts = window.counts ?? REQUESTS;
      const known = tightest.get(counts);
      if (known === undefined || most(window) < most(known)) tightest.set(counts, window);
    }
    this.#tightest = tightest;
    this.#currencies = new Set(tightest.keys());
  }

  /** Every currency some window counts, and `'requests'`. */
  get currencies(): ReadonlySet<string> {
    return this.#currencies;
  }

  /**
   * Checks a task's `weight` and `cost` options (as given) against the currencies: the weight (the
   * default 1, or the cost's `requests`) and the other currencies' amounts, or null.
   */
  normalize(weight: number | undefined, cost: unknown, currencies = this.#currencies): { weight: number; cost: Cost | null } {
    if (cost === undefined) return { weight: weight ?? 1, cost: null };
    const checked = normalizeCost('cost', cost, currencies);
    if (checked.requests !== undefined && weight !== undefined && checked.requests !== weight) {
      throw new TypeError(
        `Expected \`cost.requests\` to equal \`weight\` (both are the task's cost in requests), got ${checked.requests} and ${weight}`,
      );
    }
    const requests = weight ?? checked.requests ?? 1;
    if (requests < 1)
      throw new RangeError(`Expected \`cost.requests\` to be an integer >= 1 (the task's weight), got \`${requests}\` (number)`);
    return { weight: requests, cost: checked.cost };
  }

  /** A RangeError when `weight` or `cost` could never start under the current limits. */
  problem(weight: number, cost: Cost | null = null): RangeError | undefined {
    const capacity = this.#semaphore.capacity;
    if (weight > capacity) {
      return new RangeError(
        `Expected \`weight\` to be at most ${capacity} (the \`concurrency\`), got \`${weight}\` (number): it could never start`,
      );
    }
    const requests = this.#tightest.get(REQUESTS) as RateWindow;
    if (weight > most(requests)) return tooMuch('weight', weight, requests);
    if (cost === null) return undefined;
    for (const counts in cost) {
      const window = this.#tightest.get(counts);
      const amount = cost[counts] as number;
      if (window !== undefined && amount > most(window)) return tooMuch(`cost.${counts}`, amount, window);
    }
    return undefined;
  }
}

/** The most a window lets start at once: its `limit`, or a bucket's `burst`. */
function most(window: RateWindow): number {
  return window.burst ?? window.limit;
}

function tooMuch(name: string, amount: number, window: RateWindow): RangeError {
  const which = window.counts === REQUESTS ? '' : ` '${window.counts}'`;
  if (window.burst !== undefined) {
    return new RangeError(
      `Expected \`${name}\` to be at most ${window.burst} (the \`burst\` of the${which} bucket of ${window.limit} per ${window.windowMs} ms), got \`${amount}\` (number): it could never start`,
    );
  }
  return new RangeError(
    `Expected \`${name}\` to be at most ${window.limit} (the \`limit\` of the ${window.windowMs} ms${which} window), got \`${amount}\` (number): it could never start`,
  );
}
