/**
 * An exact sliding-window quota as a strict API keeps it: a request counts when it arrives, and it is
 * refused when `limit` requests were already served in the last `windowMs`. Only served requests use
 * quota, so a client that gets refused is not punished twice.
 */
export class ServerQuota {
  readonly limit: number;
  readonly windowMs: number;
  /** Arrival times of served requests, oldest first; `live` is the first still inside the window. */
  readonly #served: number[] = [];
  #live = 0;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Serves a request arriving at `now` if the window has room; false when it must be refused. */
  take(now: number): boolean {
    this.#expire(now);
    if (this.#served.length - this.#live >= this.limit) return false;
    this.#served.push(now);
    return true;
  }

  /** Requests that would still be served now. */
  remaining(now: number): number {
    this.#expire(now);
    return Math.max(0, this.limit - (this.#served.length - this.#live));
  }

  /** Milliseconds until the oldest request in the window leaves it (and a slot frees); 0 when none. */
  untilFree(now: number): number {
    this.#expire(now);
    return this.#live < this.#served.length ? Math.max(0, (this.#served[this.#live] as number) + this.windowMs - now) : 0;
  }

  /** Same boundary rule as the client: a request exactly `windowMs` after another is in a new window. */
  #expire(now: number): void {
    while (this.#live < this.#served.length && (this.#served[this.#live] as number) + this.windowMs <= now) this.#live++;
  }
}
