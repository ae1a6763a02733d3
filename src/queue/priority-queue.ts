// The priority queue: lower priority first, first in first out among equals; O(1) per operation plus O(log L) in levels.
import { IndexedHeap } from './indexed-heap.js';

/**
 * The links an item carries while it is queued. The queue owns these fields; an item can be in one
 * queue at a time. Keeping them on the item (not in wrapper nodes) saves an allocation per task.
 */
export interface QueueEntry<T> {
  /** Lower runs first. */
  readonly priority: number;
  /** Submission order: lower was submitted first. Breaks ties between equal priorities. */
  readonly seq: number;
  queuePrev: T | null;
  queueNext: T | null;
  agePrev: T | null;
  ageNext: T | null;
  queueLevel: Level<T> | null;
}

/** The queue's order: `a` runs before `b` (a lower `priority`, or the same and submitted first). */
export function runsBefore<T extends QueueEntry<T>>(a: T, b: T): boolean {
  return a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);
}

/** All queued items of one priority, in `seq` order. */
export class Level<T> {
  readonly priority: number;
  /** The queue it belongs to: an item's `queueLevel` tells which queue holds it, without a lookup. */
  readonly owner: object;
  head: T | null = null;
  tail: T | null = null;
  size = 0;
  minPosition = -1;
  maxPosition = -1;

  constructor(priority: number, owner: object) {
    this.priority = priority;
    this.owner = owner;
  }
}

/**
 * A priority queue: lower `priority` first, lower `seq` (first in, first out) among equal priorities.
 *
 * Items of one priority form a linked list (a "level"); the levels sit in a min-heap and a max-heap.
 * So `push`, `shift` and `remove` cost O(1), plus O(log L) when a level of a new priority appears or
 * the last item of a level leaves (L = distinct priorities, usually a handful). A sorted array, as in
 * p-queue, costs O(n) per insert. Time per operation does not grow with the number of items queued.
 *
 * A second list keeps every item in the order it entered, for `oldest()` (drop-oldest).
 */
export class PriorityQueue<T extends QueueEntry<T>> {
  readonly #levels = new Map<number, Level<T>>();
  readonly #minLevels = new IndexedHeap<Level<T>>(
    (a, b) => a.priority < b.priority,
    (level, position) => {
      level.minPosition = position;
    },
  );
  readonly #maxLevels = new IndexedHeap<Level<T>>(
    (a, b) => a.priority > b.priority,
    (level, position) => {
      level.maxPosition = position;
    },
  );
  /** Every queued item, in the order it entered the queue; `#oldest` entered first. */
  #oldest: T | null = null;
  #newest: T | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(item: T): boolean {
    return item.queueLevel !== null && item.queueLevel.owner === this;
  }

  /** The item that would run next, without removing it. */
  peek(): T | undefined {
    return this.#minLevels.peek()?.head ?? undefined;
  }

  /** The item that would run last: the highest `priority` number, the newest among equals. */
  last(): T | undefined {
    return this.#maxLevels.peek()?.tail ?? undefined;
  }

  /** The item that has been in the queue longest. */
  oldest(): T | undefined {
    return this.#oldest ?? undefined;
  }

  push(item: T): void {
    let level = this.#levels.get(item.priority);
    if (level === undefined) {
      level = new Level<T>(item.priority, this);
      this.#levels.set(item.priority, level);
      this.#minLevels.push(level);
      this.#maxLevels.push(level);
    }
    this.#insertInLevel(level, item);
    item.queueLevel = level;
    level.size++;

    item.ageNext = null;
    item.agePrev = this.#newest;
    if (this.#newest === null) this.#oldest = item;
    else this.#newest.ageNext = item;
    this.#newest = item;
    this.#size++;
  }

  shift(): T | undefined {
    const item = this.peek();
    if (item !== undefined) this.remove(item);
    return item;
  }

  /** Takes `item` out of the queue. Returns false when it was not queued here. */
  remove(item: T): boolean {
    const level = item.queueLevel;
    if (level === null || !this.has(item)) return false;

    if (item.queuePrev === null) level.head = item.queueNext;
    else item.queuePrev.queueNext = item.queueNext;
    if (item.queueNext === null) level.tail = item.queuePrev;
    else item.queueNext.queuePrev = item.queuePrev;
    item.queuePrev = item.queueNext = null;
    item.queueLevel = null;
    if (--level.size === 0) {
      this.#levels.delete(level.priority);
      this.#minLevels.removeAt(level.minPosition);
      this.#maxLevels.removeAt(level.maxPosition);
    }

    if (item.agePrev === null) this.#oldest = item.ageNext;
    else item.agePrev.ageNext = item.ageNext;
    if (item.ageNext === null) this.#newest = item.agePrev;
    else item.ageNext.agePrev = item.agePrev;
    item.agePrev = item.ageNext = null;
    this.#size--;
    return true;
  }

  /** Removes and returns every item, in the order they entered. */
  clear(): T[] {
    const items: T[] = [];
    for (let item = this.#oldest; item !== null; item = item.ageNext) items.push(item);
    for (const item of items) this.remove(item);
    return items;
  }

  /** Every item, in the order they entered. Do not modify the queue while iterating. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let item = this.#oldest; item !== null; item = item.ageNext) yield item;
  }

  /**
   * New items have the highest `seq` so far and go at the tail in O(1). An item that comes back with
   * an older `seq` (a retry keeping its place) walks from the head past the few older items left.
   */
  #insertInLevel(level: Level<T>, item: T): void {
    let after = level.tail;
    if (after !== null && after.seq > item.seq) {
      after = null;
      for (let cursor = level.head; cursor !== null && cursor.seq < item.seq; cursor = cursor.queueNext) after = cursor;
    }
    item.queuePrev = after;
    item.queueNext = after === null ? level.head : after.queueNext;
    if (item.queueNext === null) level.tail = item;
    else item.queueNext.queuePrev = item;
    if (after === null) level.head = item;
    else after.queueNext = item;
  }
}
