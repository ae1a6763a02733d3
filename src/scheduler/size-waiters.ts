// The callers of onSizeLessThan(n): producer backpressure, one waiting producer let in per free place.
interface SizeWaiter {
  readonly below: number;
  readonly resolve: () => void;
}

/**
 * The callers of `onSizeLessThan(n)`: producer backpressure, asyncio's `await queue.put()`. A free
 * place lets in one producer, not every one that waits: a producer let in counts as one more task
 * waiting until its task comes (`arrived`), so P producers can not all see the same place and make
 * `n - 1 + P` tasks wait. A producer submits in the turn it was let in, right after its `await`; a
 * place it did not use is given back when that turn is over, so no waiter behind it is left hanging.
 */
export class SizeWaiters {
  /** In the order they called. */
  readonly #waiters: SizeWaiter[] = [];
  /** How many tasks wait now (queued and blocked). */
  readonly #waiting: () => number;
  /** Producers let in whose task has not come yet; 0 once their turn is over. */
  #reserved = 0;
  /** Ends the turn in which places were given; set while `#reserved > 0`. */
  #turnEnd: ReturnType<typeof setImmediate> | undefined = undefined;
  /** No task can come any more: nothing to hold a place for. */
  #closed = false;

  constructor(waiting: () => number) {
    this.#waiting = waiting;
  }

  get size(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves when fewer than `below` tasks wait, counting the producers let in whose task has not
   * come. Earlier callers are ahead only while they can go too: one waiting for a lower size does not
   * hold back one whose size is already met. `now: false` (inside a dispatch pass, where the waiting
   * count may have dropped without earlier callers being let in yet) waits for the pass's `letIn`.
   */
  wait(below: number, now: boolean): Promise<void> {
    if (now && this.#waiting() + this.#reserved < below) {
      this.#reserve();
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ below, resolve }));
  }

  /** A producer's task came: it takes the place held for it. */
  arrived(): void {
    if (this.#reserved > 0) this.#reserved--;
  }

  /** Lets in, in order, each waiter there is a place for, holding the place for its task. */
  letIn(waiting: number): void {
    const waiters = this.#waiters;
    let kept = 0;
    for (const waiter of waiters) {
      if (waiting + this.#reserved < waiter.below) {
        this.#reserve();
        waiter.resolve();
      } else {
        waiters[kept++] = waiter;
      }
    }
    waiters.length = kept;
  }

  /** The client closed: every held place is free at once, and no more are held (call `letIn` next). */
  close(): void {
    this.#closed = true;
    if (this.#turnEnd !== undefined) clearImmediate(this.#turnEnd);
    this.#turnEnd = undefined;
    this.#reserved = 0;
  }

  #reserve(): void {
    if (this.#closed) return;
    this.#reserved++;
    // One setImmediate for every place given this turn: it runs after this turn's microtasks, so after
    // every producer let in now has submitted. Not process.nextTick: called from a timer's callback,
    // that would run before those microtasks. Fake timers drive it too (one set while they run fires
    // 1 fake ms later).
    this.#turnEnd ??= setImmediate(this.#onTurnEnd);
  }

  readonly #onTurnEnd = (): void => {
    this.#turnEnd = undefined;
    this.#reserved = 0;
    if (this.#waiters.length > 0) this.letIn(this.#waiting());
  };
}
