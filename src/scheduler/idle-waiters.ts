/**
 * The callers of `onEmpty()` (no task waits) and `onIdle()` (no task waits or runs, and no work is
 * owed: a retry waiting out its delay, a request between two attempts), and the `idle` event, which
 * fires once each time the client becomes idle after work was submitted. The scheduler says when the
 * queue has emptied (`emptied`), after each dispatch pass; the waiters themselves cost nothing per task.
 */
export class IdleWaiters {
  /** Callers of `onEmpty()`; every one is let go, and the list emptied, the first time nothing waits. */
  #empty: Array<() => void> = [];
  /** Callers of `onIdle()`; every one is let go, and the list emptied, the first time the client is idle. */
  #idle: Array<() => void> = [];
  /** Work was submitted since the last `idle` event. */
  #busySinceIdle = false;
  readonly #emitIdle: () => void;

  constructor(emitIdle: () => void) {
    this.#emitIdle = emitIdle;
  }

  /** Work was submitted: the next idle moment is an `idle` event. */
  busy(): void {
    this.#busySinceIdle = true;
  }

  whenEmpty(empty: boolean): Promise<void> {
    if (empty) return Promise.resolve();
    return new Promise((resolve) => this.#empty.push(resolve));
  }

  whenIdle(idle: boolean): Promise<void> {
    if (idle) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** No task waits now. `working`: some still runs or is owed, so the client is not idle yet. */
  emptied(working: boolean): void {
    if (this.#empty.length > 0) {
      const waiters = this.#empty;
      this.#empty = [];
      for (const resolve of waiters) resolve();
    }
    if (working) return;
    if (this.#idle.length > 0) {
      const waiters = this.#idle;
      this.#idle = [];
      for (const resolve of waiters) resolve();
    }
    if (this.#busySinceIdle) {
      this.#busySinceIdle = false;
      this.#emitIdle();
    }
  }
}
