/**
 * Settled start times, oldest first, each with the running total of weight up to and including it.
 * A ring buffer that doubles when full; entries are addressed by an absolute index that only grows,
 * so a window can keep its own "first live entry" index while the log drops what every window is done
 * with. Times must be pushed in non-decreasing order (they come from a monotonic clock).
 */
export class TimestampLog {
  #times = new Float64Array(16);
  #totals = new Float64Array(16);
  #mask = 15;
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
    const slot = this.#end & this.#mask;
    this.#times[slot] = time;
    this.#totals[slot] = total;
    this.#end++;
  }

  timeAt(index: number): number {
    return this.#times[index & this.#mask] as number;
  }

  /** Running total through entry `index` inclusive. */
  totalThrough(index: number): number {
    return this.#totals[index & this.#mask] as number;
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
    for (let each = index; each < this.#end; each++) this.#totals[each & this.#mask] = this.totalThrough(each) - weight;
  }

  /** Forgets the entries before `index`. */
  dropBefore(index: number): void {
    if (index <= this.#first) return;
    this.#droppedTotal = this.totalBefore(Math.min(index, this.#end));
    this.#first = Math.min(index, this.#end);
  }

  #grow(): void {
    const capacity = (this.#mask + 1) * 2;
    const times = new Float64Array(capacity);
    const totals = new Float64Array(capacity);
    for (let index = this.#first; index < this.#end; index++) {
      times[index & (capacity - 1)] = this.timeAt(index);
      totals[index & (capacity - 1)] = this.totalThrough(index);
    }
    this.#times = times;
    this.#totals = totals;
    this.#mask = capacity - 1;
  }
}
