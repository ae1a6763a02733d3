/**
 * Settled start times, oldest first, each with the running total of weight up to and including it.
 * A ring buffer that doubles when full; entries are addressed by an absolute index that only grows,
 * so a window can keep its own "first live entry" index while the log drops what every window is done
 * with. Times must be pushed in non-decreasing order (they come from a monotonic clock).
 *
 * Each entry is two numbers side by side in one array (time, then running total), made on the first
 * push: a typed array costs ~180 bytes of its own besides its contents, and a key's log (one per key's
 * currency, see CostLimiter) may never hold an entry.
 */
export class TimestampLog {
  #entries: Float64Array = EMPTY;
  /** Capacity in entries - 1 (a power of two - 1); -1 before the first push. */
  #mask = -1;
  /** Absolute index of the first entry kept. */
  #first = 0;
  /** Absolute index one past the last entry. */
  #end = 0;
  /** Total weight of the entries dropped so far: the running total just before `#first`. */
  #droppedTotal = 0;

  get first(): number {
    return this.#first;
  }

  get end(): number {
    return this.#end;
  }

  /** Running total of all weight ever pushed. */
  get total(): number {
    return this.#end === this.#first ? this.#droppedTotal : this.totalThrough(this.#end - 1);
  }

  /** The newest time, or -Infinity when empty. */
  get lastTime(): number {
    return this.#end === this.#first ? -Infinity : this.timeAt(this.#end - 1);
  }

  push(time: number, weight: number): void {
    if (this.#end - this.#first > this.#mask) this.#grow();
    const total = this.total + weight;
    const slot = (this.#end & this.#mask) << 1;
    this.#entries[slot] = time;
    this.#entries[slot + 1] = total;
    this.#end++;
  }

  timeAt(index: number): number {
    return this.#entries[(index & this.#mask) << 1] as number;
  }

  /** Running total through entry `index` inclusive. */
  totalThrough(index: number): number {
    return this.#entries[((index & this.#mask) << 1) + 1] as number;
  }

  /** Running total of the entries before `index`. */
  totalBefore(index: number): number {
    return index <= this.#first ? this.#droppedTotal : this.totalThrough(index - 1);
  }

  /** First index in [from, end) whose running total is >= `total`; `end` when none. Binary search. */
  firstReaching(total: number, from = this.#first): number {
    let low = from;
    let high = this.#end;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.totalThrough(middle) >= total) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  /**
   * Takes `weight` off entry `index` (a refund: the start cost less than it was counted for), keeping
   * its time. O(entries after it). An entry already dropped is gone from every window: nothing to do.
   */
  refund(index: number, weight: number): void {
    if (index < this.#first || index >= this.#end) return;
    for (let each = index; each < this.#end; each++) this.#entries[((each & this.#mask) << 1) + 1] = this.totalThrough(each) - weight;
  }

  /** Forgets the entries before `index`. */
  dropBefore(index: number): void {
    if (index <= this.#first) return;
    this.#droppedTotal = this.totalBefore(Math.min(index, this.#end));
    this.#first = Math.min(index, this.#end);
  }

  #grow(): void {
    const capacity = Math.max(INITIAL_CAPACITY, (this.#mask + 1) * 2);
    const entries = new Float64Array(capacity * 2);
    for (let index = this.#first; index < this.#end; index++) {
      const slot = (index & (capacity - 1)) << 1;
      entries[slot] = this.timeAt(index);
      entries[slot + 1] = this.totalThrough(index);
    }
    this.#entries = entries;
    this.#mask = capacity - 1;
  }
}

/** Entries a log makes room for at its first push; it doubles from there. */
const INITIAL_CAPACITY = 8;
/** The array of every log before its first push. */
const EMPTY = new Float64Array(0);
