/**
 * A binary heap whose items know their own position, so that any item can be removed in O(log n)
 * (a plain heap can only pop its top). `setPosition` is told every move; -1 means "not in the heap".
 */
export class IndexedHeap<T> {
  /** Heap-ordered: no item is `before` its parent. */
  readonly #items: T[] = [];
  readonly #before: (a: T, b: T) => boolean;
  readonly #setPosition: (item: T, position: number) => void;

  constructor(before: (a: T, b: T) => boolean, setPosition: (item: T, position: number) => void) {
    this.#before = before;
    this.#setPosition = setPosition;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    this.#items.push(item);
    this.#up(this.#items.length - 1, item);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes the item at `position` (as last given to `setPosition`). */
  removeAt(position: number): void {
    const items = this.#items;
    const removed = items[position] as T;
    const last = items.pop() as T;
    this.#setPosition(removed, -1);
    if (position === items.length) return;
    items[position] = last;
    this.#setPosition(last, position);
    if (position > 0 && this.#before(last, items[(position - 1) >> 1] as T)) this.#up(position, last);
    else this.#down(position, last);
  }

  /** The item at `position` changed its order: it moves up or down to its place. */
  update(position: number): void {
    const item = this.#items[position] as T;
    if (position > 0 && this.#before(item, this.#items[(position - 1) >> 1] as T)) this.#up(position, item);
    else this.#down(position, item);
  }

  #up(position: number, item: T): void {
    const items = this.#items;
    while (position > 0) {
      const parentPosition = (position - 1) >> 1;
      const parent = items[parentPosition] as T;
      if (!this.#before(item, parent)) break;
      items[position] = parent;
      this.#setPosition(parent, position);
      position = parentPosition;
    }
    items[position] = item;
    this.#setPosition(item, position);
  }

  #down(position: number, item: T): void {
    const items = this.#items;
    const length = items.length;
    for (;;) {
      let child = 2 * position + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && this.#before(items[right] as T, items[child] as T)) child = right;
      const next = items[child] as T;
      if (!this.#before(next, item)) break;
      items[position] = next;
      this.#setPosition(next, position);
      position = child;
    }
    items[position] = item;
    this.#setPosition(item, position);
  }
}
