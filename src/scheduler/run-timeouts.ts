// The timeoutMs of running jobs: one heap and one timer for all of them; a task whose time is up is told to stop.
import { type Clock, timerDelay } from '../core/clock.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { IndexedHeap } from '../queue/indexed-heap.js';
import type { Job, JobBounds } from './job.js';

/**
 * Running tasks' `timeoutMs` (waiting tasks' `maxWaitMs` is Deadlines'). When it passes, the caller's
 * promise rejects with a TimeoutError at once and the task is told to stop through its context
 * signal; the task still ends on its own, and only that end frees its worker and permits.
 *
 * One timer for the earliest due time, not one per task: every HTTP request has a timeout, and a
 * timer made and cleared per request (a Timeout object, a list insert and removal) cost more than this
 * heap's O(log n) in the tasks running. A task that ends leaves the timer as it is: when it fires
 * early for a task already gone, it is set again for the next one.
 */
export class RunTimeouts {
  readonly #heap = new IndexedHeap<Job>(
    (a, b) => dueOf(a) < dueOf(b),
    (job, position) => {
      (job.bounds as JobBounds).timeoutPosition = position;
    },
  );
  readonly #clock: Clock;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** The due time the timer is set for; Infinity when no timer is set. */
  #timerDue = Infinity;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** `job`, with a finite `timeoutMs`, started at `now`. */
  started(job: Job, now: number): void {
    const bounds = job.bounds as JobBounds;
    bounds.timeoutDue = now + job.timeoutMs;
    this.#heap.push(job);
    if (bounds.timeoutDue < this.#timerDue) this.#arm(bounds.timeoutDue, now);
  }

  /** `job` ended: it is not timed any more. */
  ended(job: Job): void {
    const position = job.bounds?.timeoutPosition ?? -1;
    if (position < 0) return;
    this.#heap.removeAt(position);
    if (this.#heap.size === 0) this.clear();
  }

  /** Stops the timer (the client closed); tasks still timed stay, without a timer, until they end. */
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
    // Timers can fire a little early (and, past Node's longest timer, far too early): anything not
    // yet due gets a new timer instead.
    for (let job = this.#heap.peek(); job !== undefined; job = this.#heap.peek()) {
      if (dueOf(job) - now >= 1) {
        this.#arm(dueOf(job), now);
        return;
      }
      this.#heap.pop();
      const error = new TimeoutError(`Task timed out after ${job.timeoutMs} ms`, 'run', job.timeoutMs);
      job.stop(error);
      job.fail(error, 'failed');
    }
  };
}

function dueOf(job: Job): number {
  return (job.bounds as JobBounds).timeoutDue;
}
