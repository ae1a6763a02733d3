/**
 * A counting semaphore over units of weight: the most work in flight at once. It holds no waiters;
 * the scheduler asks `tryAcquire` when it has work and calls back in when a release frees permits.
 */
export class Semaphore {
  #capacity: number;
  /** Permits held; can exceed `#capacity` for a while after the capacity is lowered. */
  #held = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get capacity(): number {
    return this.#capacity;
  }

  get held(): number {
    return this.#held;
  }

  /** Permits free now (never negative). */
  get available(): number {
    return Math.max(0, this.#capacity - this.#held);
  }

  tryAcquire(permits: number): boolean {
    if (this.#held + permits > this.#capacity) return false;
    this.#held += permits;
    return true;
  }

  release(permits: number): void {
    this.#held -= permits;
    if (this.#held < 0) throw new Error(`Semaphore released more permits than were held (${this.#held})`);
  }

  /** Takes effect for acquisitions to come; holders keep their permits. */
  setCapacity(capacity: number): void {
    this.#capacity = capacity;
  }
}
