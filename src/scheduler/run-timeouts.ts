// The timeoutMs of running jobs: one heap and one timer for all of them; a task whose time is up is told to stop.
import type { Clock } from '../core/clock.js';
import { TimeoutError } from '../errors/timeout-error.js';
import { DueTimer } from './due-timer.js';
import type { Job, JobBounds } from './job.js';

/**
 * Running tasks' `timeoutMs` (waiting tasks' `maxWaitMs` is Deadlines'). When it passes, the caller's
 * promise rejects with a TimeoutError at once and the task is told to stop through its context
 * signal; the task still ends on its own, and only that end frees its worker and permits.
 *
 * One timer for the earliest due time, not one per task (see DueTimer): every HTTP request has a
 * timeout, and a timer made and cleared per request (a Timeout object, a list insert and removal) cost
 * more than a heap's O(log n) in the tasks running.
 */
export class RunTimeouts {
  readonly #due: DueTimer<Job>;

  constructor(clock: Clock) {
    this.#due = new DueTimer<Job>(
      clock,
      (job) => (job.bounds as JobBounds).timeoutDue,
      (job, position) => {
        (job.bounds as JobBounds).timeoutPosition = position;
      },
      timedOut,
      // Due within its last millisecond: Node timers fire up to ~1 ms early.
      1,
    );
  }

  /** `job`, with a finite `timeoutMs`, started at `now`. */
  started(job: Job, now: number): void {
    (job.bounds as JobBounds).timeoutDue = now + job.timeoutMs;
    this.#due.add(job, now);
  }

  /** `job` ended: it is not timed any more. */
  ended(job: Job): void {
    this.#due.delete(job.bounds?.timeoutPosition ?? -1);
  }
}

function timedOut(job: Job): void {
  const error = new TimeoutError(`Task timed out after ${job.timeoutMs} ms`, 'run', job.timeoutMs);
  job.stop(error);
  job.fail(error, 'failed');
}
