// One timer for a heap of things each due at a clock time: the deadlines of waiting jobs, the timeouts of running ones.
import { type Clock, timerDelay } from '../core/clock.js';
import { IndexedHeap } from '../queue/indexed-heap.js';

/**
 * Items each due at a clock time, in a heap, with one timer for the earliest: not one timer per item,
 * so a million waiting jobs cost one timer. An item that leaves before it is due leaves the timer as
 * it is: when it fires early, it is set again for the next item. Timers can fire a little early (and,
 * past Node's longest timer, far too early): an item is due once less than `slackMs` is left.
 */
export class DueTimer<T> {
  readonly #heap: IndexedHeap<T>;
  readonly #clock: Clock;
  readonly #dueOf: (item: T) => number;
  readonly #onDue: (item: T) => void;
  readonly #slackMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The due time the timer is set for; Infinity when none is set. */
  #timerDue = Infinity;

  constructor(
    clock: Clock,
    dueOf: (item: T) => number,
    setPosition: (item: T, position: number) => void,
    onDue: (item: T) => void,
    slackMs: number,
  ) {
    this.#clock = clock;
    this.#dueOf = dueOf;
    this.#onDue = onDue;
    this.#slackMs = slackMs;
    this.#heap = new IndexedHeap<T>((a, b) => dueOf(a) < dueOf(b), setPosition);
  }

  /** `now`: the clock, read by the caller, or undefined to read it here if a timer must be set. */
  add(item: T, now?: number): void {
    this.#heap.push(item);
    const due = this.#dueOf(item);
    if (due < this.#timerDue) this.#arm(due, now ?? this.#clock.now());
  }

  /** Takes out the item at `position` (as last given to `setPosition`; -1: not here). */
  delete(position: number): void {
    if (position < 0) return;
    this.#heap.removeAt(position);
    if (this.#heap.size === 0) this.clear();
  }

  /** Stops the timer; items stay, without a timer, until `add` or `delete`. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerDue = Infinity;
  }

  #arm(due: number, now: number): void {
    this.clear();
    this.#timerDue = due;
    this.#timer = setTimeout(this.#fire, timerDelay(due - now));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerDue = Infinity;
    const now = this.#clock.now();
    for (let item = this.#heap.peek(); item !== undefined; item = this.#heap.peek()) {
      const due = this.#dueOf(item);
      if (due - now >= this.#slackMs) {
        this.#arm(due, now);
        return;
      }
      this.#heap.pop();
      this.#onDue(item);
    }
  };
}
