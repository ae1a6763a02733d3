// The maxWaitMs deadlines of queued jobs: one heap and one timer for all of them.
import type { Clock } from '../core/clock.js';
import { DueTimer } from './due-timer.js';
import type { Job, JobBounds } from './job.js';

/**
 * Jobs that must start by a deadline (`maxWaitMs`). One timer for the earliest deadline, not one per
 * job (see DueTimer). Only jobs with bounds (a finite deadline) are added.
 */
export class Deadlines {
  readonly #due: DueTimer<Job>;

  constructor(clock: Clock, onExpired: (job: Job) => void) {
    this.#due = new DueTimer<Job>(
      clock,
      (job) => job.deadline,
      (job, position) => {
        (job.bounds as JobBounds).deadlinePosition = position;
      },
      onExpired,
      // Due once its deadline has passed (a start exactly at the deadline is still allowed).
      Number.MIN_VALUE,
    );
  }

  add(job: Job): void {
    this.#due.add(job);
  }

  delete(job: Job): void {
    this.#due.delete(job.bounds?.deadlinePosition ?? -1);
  }

  /** Stops the timer; jobs still waiting stay, without a timer, until `add` or `delete`. */
  clear(): void {
    this.#due.clear();
  }
}
