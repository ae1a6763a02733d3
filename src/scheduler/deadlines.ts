// The maxWaitMs deadlines of queued jobs: one heap and one timer for all of them.
import { type Clock, timerDelay } from '../core/clock.js';
import { IndexedHeap } from '../queue/indexed-heap.js';
import type { Job, JobBounds } from './job.js';

/**
 * Jobs that must start by a deadline (`maxWaitMs`). One timer for the earliest deadline, not one per
 * job: a million waiting jobs cost one timer. Only jobs with bounds (a finite deadline) are added.
 */
export class Deadlines {
  readonly #heap = new IndexedHeap<Job>(
    (a, b) => a.deadline < b.deadline,
    (job, position) => {
      (job.bounds as JobBounds).deadlinePosition = position;
    },
  );
  readonly #clock: Clock;
  readonly #onExpired: (job: Job) => void;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The deadline the timer is set for; Infinity when no timer is set. */
  #timerDue = Infinity;

  constructor(clock: Clock, onExpired: (job: Job) => void) {
    this.#clock = clock;
    this.#onExpired = onExpired;
  }

  add(job: Job): void {
    this.#heap.push(job);
    if (job.deadline < this.#timerDue) this.#arm(job.deadline, this.#clock.now());
  }

  delete(job: Job): void {
    if (job.bounds === null || job.bounds.deadlinePosition < 0) return;
    this.#heap.removeAt(job.bounds.deadlinePosition);
    if (this.#heap.size === 0) this.clear();
  }

  /** Stops the timer; jobs still in the heap stay, without a timer, until `add` or `delete`. */
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
    // Timers can fire a little early: anything not yet due gets a new timer instead.
    for (let job = this.#heap.peek(); job !== undefined; job = this.#heap.peek()) {
      if (job.deadline > now) {
        this.#arm(job.deadline, now);
        return;
      }
      this.#heap.pop();
      this.#onExpired(job);
    }
  };
}
