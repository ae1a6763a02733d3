// The rate windows the loop enforces, and whether a task's weight could ever fit them and the concurrency.
import type { RateWindow } from '../core/options.js';
import type { Semaphore } from '../limit/semaphore.js';
import { smallestLimit } from '../limit/sliding-window.js';

/**
 * The windows a client is configured with, as the dispatch loop sees them (the store keeps what they
 * count), and the check that refuses a task heavier than a window's `limit` or the `concurrency`: such a
 * task could never start, so it is refused at once instead of waiting forever.
 */
export class WeightLimits {
  readonly #semaphore: Semaphore;
  #windows: readonly RateWindow[];
  /** The smallest `limit` of `#windows`, or Infinity without windows. */
  #maxWeight: number;

  constructor(windows: readonly RateWindow[], semaphore: Semaphore) {
    this.#semaphore = semaphore;
    this.#windows = windows;
    this.#maxWeight = smallestLimit(windows);
  }

  get windows(): readonly RateWindow[] {
    return this.#windows;
  }

  set windows(windows: readonly RateWindow[]) {
    this.#windows = windows;
    this.#maxWeight = smallestLimit(windows);
  }

  /** A RangeError when `weight` could never start under the current limits. */
  problem(weight: number): RangeError | undefined {
    const capacity = this.#semaphore.capacity;
    if (weight <= capacity && weight <= this.#maxWeight) return undefined;
    if (weight > capacity) {
      return new RangeError(
        `Expected \`weight\` to be at most ${capacity} (the \`concurrency\`), got \`${weight}\` (number): it could never start`,
      );
    }
    for (const window of this.#windows) {
      if (weight > window.limit) {
        return new RangeError(
          `Expected \`weight\` to be at most ${window.limit} (the \`limit\` of the ${window.windowMs} ms window), got \`${weight}\` (number): it could never start`,
        );
      }
    }
    return undefined;
  }
}
