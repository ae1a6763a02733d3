// The request queue: the priority queue with its bound (maxSize), the blocked line and the overflow strategies.
import type { OverflowStrategy } from '../core/options.js';
import { type FairEntry, FairQueue, type Fairness, type LaneGroup, runsBefore } from './fair-queue.js';

/**
 * An item of the request queue. `state` says where it waits, and the queue keeps it: `'queued'` in
 * line, `'blocked'` outside a full line (`overflow: 'block'`), `'acquiring'` stepped out of line to
 * await a store's answer, keeping its place (see `holdPlace`). Any other state is its owner's: the item
 * is not waiting here. A new item comes in as `'queued'`.
 */
export interface RequestQueueEntry<T> extends FairEntry<T> {
  state: string;
}

/**
 * The request queue: tasks wait here, best first (lower `priority`; within a priority, keys take turns
 * and each key's tasks go first in first out: see FairQueue), until the scheduler starts them. At most `maxSize` wait in line; `overflow` says what a full line does
 * with one more: `'block'` keeps it waiting outside, the drop strategies push one out (the caller
 * rejects it), `'reject'` is the caller's to refuse before offering (see `isFull`).
 *
 * Invariants between calls (but see `releasePlace`, which leaves a place free for `requeue`):
 * - The bound limits how many wait in line, not who goes first: every blocked item runs after every
 *   item in line (see `#block`), so the line's head is the best of all that wait. The item out of
 *   line for its answer is the exception: a better one may be blocked meanwhile (see `requeue`).
 * - An item is blocked only while the line is full: a freed place goes at once to the best blocked.
 * - The item out of line for a store's answer counts in line (for `maxSize` too) until the answer.
 *
 * It only moves items and says which to drop: rejecting, events and counting are the scheduler's.
 */
export class RequestQueue<T extends RequestQueueEntry<T>> {
  readonly maxSize: number;
  readonly overflow: OverflowStrategy;
  /** Items in state `'queued'`. */
  readonly #line: FairQueue<T>;
  /** Items in state `'blocked'`: non-empty only while the line is full, each worse than all in line. */
  readonly #blocked = new FairQueue<T>('fifo', false, 2);
  /**
   * The item in state `'acquiring'` that still holds its place in line: set by `holdPlace`, cleared
   * by `releasePlace` or `remove`. At most one: one store answer is out at a time.
   */
  #away: T | undefined = undefined;

  constructor(maxSize: number, overflow: OverflowStrategy, fairness: Fairness = 'fair') {
    this.maxSize = maxSize;
    this.overflow = overflow;
    this.#line = new FairQueue<T>(fairness);
  }

  /** Items in line, the one out of line awaiting its answer included. */
  get queued(): number {
    return this.#line.size + (this.#away === undefined ? 0 : 1);
  }

  get blocked(): number {
    return this.#blocked.size;
  }

  /** Every item that waits: in line or blocked. */
  get waiting(): number {
    return this.queued + this.#blocked.size;
  }

  get isFull(): boolean {
    return this.queued >= this.maxSize;
  }

  /** The item that would start next: its key's turn, among keys not parked. */
  get first(): T | undefined {
    return this.#line.peek();
  }

  /** `group`'s items are passed over until `unpark` (its own limits are full). */
  park(group: LaneGroup<T>): void {
    this.#line.park(group);
  }

  unpark(group: LaneGroup<T>): void {
    this.#line.unpark(group);
  }

  /** The item in line that `group`'s full queue pushes out with `overflow` (a drop strategy), if any. */
  victimOf(group: LaneGroup<T>, overflow: 'drop-oldest' | 'drop-lowest-priority'): T | undefined {
    return overflow === 'drop-oldest' ? this.#line.oldestOf(group) : this.#line.lastOf(group);
  }

  /**
   * Takes in a new item. Returns the item a drop strategy pushed out of a full line (with
   * `'drop-lowest-priority'` that may be `item` itself): the caller must `remove` it. The line is
   * over its bound until then.
   */
  offer(item: T): T | undefined {
    if (this.queued < this.maxSize) {
      this.#line.push(item);
      return undefined;
    }
    if (this.overflow === 'block') {
      this.#block(item);
      return undefined;
    }
    // Push first, then name the victim: with 'drop-lowest-priority' it may be the new item.
    this.#line.push(item);
    return this.overflow === 'drop-oldest' ? this.#line.oldest() : this.#line.last();
  }

  /** `item` (the first in line) leaves the line to start: its place goes to the best blocked item. */
  take(item: T): void {
    this.#line.take(item);
    this.admitBlocked();
  }

  /** `item` (the first in line) leaves the line to await a store's answer, but keeps its place. */
  holdPlace(item: T): void {
    this.#line.hold(item);
    item.state = 'acquiring';
    this.#away = item;
  }

  /** The item that was out of line for its answer was granted and starts: its key's turn is used. */
  startAway(item: T): void {
    this.#line.unhold(item, true);
  }

  /**
   * The answer came: the item out of line holds its place no more. Its place stays free for `requeue`;
   * if it starts or is removed instead, `admitBlocked` (or `remove`) fills it.
   */
  releasePlace(): void {
    this.#away = undefined;
  }

  /**
   * A refused item, its place released, goes back in line. A better item may have been blocked while it
   * was out (it could not take the place of an item out of line): that one gets the place then. Every
   * item in line runs before every blocked one, so if the best blocked runs before this one, this one
   * is the worst in line, and it waits outside instead.
   */
  requeue(item: T): void {
    const best = this.#blocked.peek();
    if (best !== undefined && runsBefore(best, item)) {
      this.#line.unhold(item, false);
      this.#blocked.remove(best);
      best.state = 'queued';
      this.#line.push(best);
      item.state = 'blocked';
      this.#blocked.push(item);
    } else {
      item.state = 'queued';
      // Back before its hold ends: its key's lane takes its turn back (see FairQueue#hold).
      this.#line.push(item);
      this.#line.unhold(item, false);
    }
  }

  /**
   * Takes `item` out, wherever it waits (its `state` says where). A place it freed in line (an item
   * out of line held one until its answer came) goes to the best blocked item. An item the queue no
   * longer holds (after `clear`) frees nothing.
   */
  remove(item: T): void {
    if (item.state === 'blocked') {
      this.#blocked.remove(item);
      return;
    }
    if (item.state === 'acquiring') this.#line.unhold(item, false);
    const placeFreed = item.state === 'acquiring' || (item.state === 'queued' && this.#line.remove(item));
    if (item === this.#away) this.#away = undefined;
    if (placeFreed) this.admitBlocked();
  }

  /** Moves blocked items, best first, into the room the line has. */
  admitBlocked(): void {
    while (this.#blocked.size > 0 && this.queued < this.maxSize) {
      const item = this.#blocked.shift() as T;
      item.state = 'queued';
      this.#line.push(item);
    }
  }

  /**
   * Takes out and returns every blocked item, then every item in line, each in the order it entered.
   * Their states are left as they were (so a later `remove` frees nothing); the item out of line for
   * its answer is in neither: `remove` it on its own first.
   */
  clear(): T[] {
    return [...this.#blocked.clear(), ...this.#line.clear()];
  }

  /** The blocked items, in the order they entered. Do not change the queue while iterating. */
  blockedItems(): IterableIterator<T> {
    return this.#blocked[Symbol.iterator]();
  }

  /** The items in line, in the order they entered. Do not change the queue while iterating. */
  queuedItems(): IterableIterator<T> {
    return this.#line[Symbol.iterator]();
  }

  /**
   * A new item for a full line with `'block'` waits outside it, unless it runs before the line's worst:
   * then it takes that one's place, and that one waits outside instead. Finding the line's worst costs
   * O(lanes of its worst priority) (see FairQueue#last).
   */
  #block(item: T): void {
    const worst = this.#line.last();
    if (worst !== undefined && runsBefore(item, worst)) {
      this.#line.remove(worst);
      this.#line.push(item);
      item = worst;
    }
    item.state = 'blocked';
    this.#blocked.push(item);
  }
}
